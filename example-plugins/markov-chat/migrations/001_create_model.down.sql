DROP TABLE stats;
DROP TABLE chain;
