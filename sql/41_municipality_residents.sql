-- The pass over the registers, part 2: every row of bosted, by person index (pid; -1 where the lopenr
-- cannot be one of personer or the row fails a load check, pipeline/registers/load.py, RowChecks),
-- with its row of the crosswalk (sql/20; -1 for none). Whether a row is of a study year, and the
-- checks, are made by pipeline/registers/municipalities.py.
select
    bosted.pid,
    coalesce(bosted.aar, 0) as aar,
    coalesce(crosswalk.crosswalk_row, -1) as crosswalk_row
from keyed_bosted as bosted
left join crosswalk using (aar, kommnr);
