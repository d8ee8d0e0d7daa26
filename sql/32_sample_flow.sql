-- Exclusions of the sample flow: one row per rule with the persons and person-years it removes.
-- Person-years are residence rows (1 January) in the study years. A person-year rule removes a person
-- when it removes that person's last remaining row. Python adds the running totals.
with category_rows as (
    -- residence rows of persons with a refugee category (few); everyone else is the first rule's
    select bosted.lopenr, count(*) as n_rows
    from related_bosted as bosted
    semi join refugee_candidates as candidates on candidates.lopenr = bosted.lopenr
    group by bosted.lopenr
),

category_level as (
    select
        candidates.excluded_by as rule,
        count(*) as persons,
        coalesce(sum(category_rows.n_rows), 0) as person_years
    from refugee_candidates as candidates
    left join category_rows using (lopenr)
    where candidates.excluded_by is not null
    group by candidates.excluded_by
),

person_level as (
    select * from category_level
    union all
    select
        'not_refugee_category' as rule,
        (select count(*) from stg_personer) - (select count(*) from refugee_candidates) as persons,
        getvariable('harmonised_rows') - (select coalesce(sum(n_rows), 0) from category_rows)  -- set by harmonise
            as person_years
),

row_rank as (
    select
        lopenr,
        excluded_by,
        case excluded_by
            when 'resident_before_settlement' then 1
            when 'no_income_record' then 2
            else 99
        end as rank
    from person_year_candidates
),

persons_removed as (
    -- a person leaves at the rule that removes their last remaining row
    select last_rank, count(*) as persons
    from (select lopenr, max(rank) as last_rank from row_rank group by lopenr)
    group by last_rank
),

person_year_level as (
    select
        rows_removed.rule,
        coalesce(persons_removed.persons, 0) as persons,
        rows_removed.person_years
    from (
        select excluded_by as rule, rank, count(*) as person_years
        from row_rank
        where excluded_by is not null
        group by excluded_by, rank
    ) as rows_removed
    left join persons_removed on persons_removed.last_rank = rows_removed.rank
),

no_residence as (
    -- study-population persons with no residence row from their immigration year on: no person-year at all
    select 'no_residence_after_arrival' as rule, count(*) as persons, 0 as person_years
    from refugees
    anti join person_year_candidates using (lopenr)
)

select 'person' as level, rule, persons, person_years from person_level
union all
select 'person_year' as level, rule, persons, person_years from no_residence
union all
select 'person_year' as level, rule, persons, person_years from person_year_level;
