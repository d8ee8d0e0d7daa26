-- The pass over the registers, part 3: every row of inntekt (person as in sql/41). Benefits: social
-- assistance, basic and attendance benefit, housing allowance (a missing one is none). Employment and
-- the other shares of methods.md §5 are taken by pipeline/registers/municipalities.py with the year's G,
-- for the residents aged 30-59.
select
    person,
    coalesce(aar, 0) as aar,
    coalesce(yrkinnt, 0) as yrkinnt,
    coalesce(sosialhjelp, 0) + coalesce(grunn_hjelpestonad, 0) + coalesce(bostotte, 0) as benefits
from keyed_inntekt;
