-- The pass over the registers, part 2: every row of bosted, by person (its pid, or its lopenr for the
-- pass to read as one; null where the row fails a load check: pipeline/registers/person_index.py,
-- PersonIndex.flagged), with its code's place in the crosswalk's codes (the type kommnr_code of sql/20;
-- -1 for a code the crosswalk lacks). Whether a row is of a study year, its crosswalk row, and the
-- checks, are found by pipeline/registers/municipalities.py.
select
    person,
    coalesce(aar, 0) as aar,
    coalesce(enum_code(try_cast(kommnr as kommnr_code))::integer, -1) as kommnr_code
from keyed_bosted;
