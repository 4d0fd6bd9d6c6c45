-- The wider CHECKs on account and journal kinds stay: rows of the new kinds may exist, and
-- the kinds before issue 28 are all still allowed.
DROP INDEX journals_created;
