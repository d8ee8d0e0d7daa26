-- The pass over the registers, part 5: every row of familie (person as in sql/41). A row says that the
-- person has a partner that year; the pass keeps the rows of the related persons (sql/28) for the
-- panel's partner indicator (sql/30).
select
    person,
    coalesce(aar, 0) as aar
from keyed_familie;
