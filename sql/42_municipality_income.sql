-- Municipality characteristics, part 3: income of the study years, looked up for the residents aged 30-59
-- by person-year key. Employed: yrkesinntekt above 1 G (no income record: not employed). Benefits: social
-- assistance, basic and attendance benefit, housing allowance (a missing one is none); they exceed the
-- income only when there are benefits.
with income as (
    select
        inntekt.pid * getvariable('study_year_count') + (inntekt.aar - getvariable('first_year')) as person_year,
        inntekt.yrkinnt,
        coalesce(inntekt.sosialhjelp, 0) + coalesce(inntekt.grunn_hjelpestonad, 0)
            + coalesce(inntekt.bostotte, 0) as benefits,
        grunnbelop.g
    from keyed_inntekt as inntekt
    join stg_grunnbelop as grunnbelop using (aar)
    where inntekt.aar between getvariable('first_year') and getvariable('last_year')
)

select
    person_year,
    yrkinnt,
    yrkinnt > g as employed,
    yrkinnt > 4 * g as income_over_4g,
    benefits > 0 and benefits > yrkinnt as benefits_over_income
from income;
