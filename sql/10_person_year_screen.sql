-- Screen of one yearly table (view `screened`: lopenr, aar, problems) in one pass grouped by person, for
-- the load checks: the failed row checks (a bit each in problems), rows that may share a (lopenr, aar)
-- key, rows whose lopenr is not in personer, and the years.
-- Each person's years are bits of a 192-bit mask (1890-2081): fewer distinct years than rows means a
-- possible duplicate; a year outside the mask always counts as one. A positive count runs the exact query.
with per_person as (
    select
        lopenr,
        count(*) as n_rows,
        bit_or(problems) as problems,
        bit_or(case when aar between 1890 and 1953 then 1::ubigint << (aar - 1890) end) as years_0,
        bit_or(case when aar between 1954 and 2017 then 1::ubigint << (aar - 1954) end) as years_1,
        bit_or(case when aar between 2018 and 2081 then 1::ubigint << (aar - 2018) end) as years_2,
        min(aar) as first_year,
        max(aar) as last_year
    from screened
    group by lopenr
),

final as (
    select
        coalesce(bit_or(per_person.problems), 0) as problems,
        coalesce(sum(per_person.n_rows - coalesce(bit_count(per_person.years_0), 0)
            - coalesce(bit_count(per_person.years_1), 0) - coalesce(bit_count(per_person.years_2), 0)), 0)
            as possible_duplicates,
        coalesce(sum(per_person.n_rows) filter (where personer.lopenr is null), 0) as rows_unknown_person,
        min(per_person.first_year) as first_year,
        max(per_person.last_year) as last_year
    from per_person
    left join stg_personer as personer using (lopenr)
)

select * from final;
