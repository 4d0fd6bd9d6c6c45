DROP TABLE link_daily;
DROP TABLE clicks;
DROP TABLE links;
DROP TABLE streams;
