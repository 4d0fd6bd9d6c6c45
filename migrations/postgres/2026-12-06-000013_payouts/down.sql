DROP TABLE payout_exclusions;
DROP TABLE payout_items;
DROP TABLE payouts;
DROP TABLE payout_runs;
DROP TABLE payout_schedules;
