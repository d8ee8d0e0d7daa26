-- The pass over the registers, part 4: every row of utdanning (person as in sql/41). nus_level: the
-- first digit of the highest completed NUS level (255: none); higher education is level 6, 7 or 8.
select
    person,
    coalesce(aar, 0) as aar,
    nus_igang is not null as in_education,
    coalesce(try_cast(left(nus_hoyeste, 1) as utinyint), 255) as nus_level
from keyed_utdanning;
