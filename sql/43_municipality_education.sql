-- The pass over the registers, part 4: every row of utdanning (person as in sql/41). nus_level: the
-- first digit of the highest completed NUS level (255: none, or a first character that is no digit);
-- higher education is level 6, 7 or 8. (ascii reads the first character alone: left() and a cast
-- took twice as long.)
select
    person,
    coalesce(aar, 0) as aar,
    nus_igang is not null as in_education,
    coalesce(case when ascii(nus_hoyeste) between 48 and 57 then ascii(nus_hoyeste) - 48 end, 255)::utinyint
        as nus_level
from keyed_utdanning;
