-- The pass over the registers, part 2: every row of bosted, by person (its pid, or its lopenr for the
-- pass to read as one; null where the row fails a load check: pipeline/registers/person_index.py,
-- PersonIndex.flagged), with its row of the crosswalk (sql/20; -1 for none). Whether a row is of a study
-- year, and the checks, are made by pipeline/registers/municipalities.py.
select
    bosted.person,
    coalesce(bosted.aar, 0) as aar,
    coalesce(crosswalk.crosswalk_row, -1) as crosswalk_row
from keyed_bosted as bosted
left join crosswalk using (aar, kommnr);
