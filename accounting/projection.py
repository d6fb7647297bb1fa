"""Year-to-date figures and the year-end projection of the annual core indicator.

Method (docs/accounting.md, "Projection"): the year-to-date activity is scaled to a full year by
one factor k, then the whole account is recomputed, so the projected indicator, the projected
energy (which picks the tier) and the emission terms stay consistent with each other.

    k = E_prev_full / E_prev_same_period   when last year's energy (tce) is given (seasonal)
    k = 1 / elapsed share of the year      otherwise (run rate, park local calendar)
    k = days of the year / days of the span for a span not starting on 1 January (a month, a quarter)

Metered flows, fuels, heat, process output and value added scale by k. Purchases do not: the
projected year uses the certificates retired to date plus those declared as planned, and the
CCER offsets to date, because they are bought in lumps rather than earned over time.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from lingtan.accounting.account import Account, account
from lingtan.accounting.activity import Activity
from lingtan.accounting.framework import Framework
from lingtan.accounting.indicators import IndicatorResult, evaluate_indicator
from lingtan.kernel.localtime import elapsed_share


@dataclass(frozen=True, slots=True)
class Outlook:
    indicator: str
    through: str  # last local day of data
    ytd: IndicatorResult
    scale: float  # k
    method: str
    projected: IndicatorResult
    projected_energy_tce: float
    projected_co2_t: float
    ytd_co2_t: float = 0.0
    projected_fossil_grid_kwh: float = 0.0  # grid power of the projected year not covered by certificates
    fossil_factor_t_per_kwh: float = 0.0


def scale_factor(activity: Activity, zone: ZoneInfo) -> tuple[float, str]:
    if activity.full_year:
        return 1.0, "full year: no projection needed"
    through = activity.period.through or date(activity.year, 12, 31)
    if not activity.year_to_date:  # a month, a quarter, any span not starting on 1 January
        days = (activity.period_end - activity.period_start).days
        year_days = (date(activity.year + 1, 1, 1) - date(activity.year, 1, 1)).days
        return year_days / days, (f"run rate over the span: k = {year_days} days of {activity.year} / {days} days "
                                  f"{activity.period_start.isoformat()}..{through.isoformat()}")
    prev = activity.period.previous_year
    if prev is not None:
        k = prev.energy_tce_full_year / prev.energy_tce_same_period
        return k, f"seasonal: k = last year's full-year energy / energy to {through:%m-%d} = {k:.6f}"
    share = elapsed_share(activity.year, through, zone)
    return 1 / share, f"run rate: k = 1 / elapsed share of {activity.year} in {zone.key} ({share:.6f})"


def scale_activity(a: Activity, k: float) -> Activity:
    """The full-year activity implied by year-to-date activity `a` and scale k."""
    e = a.electricity
    electricity = e.model_copy(update={
        **{name: getattr(e, name) * k for name in type(e).model_fields if name.endswith("_kwh")},
        "certificates_mwh": e.certificates_mwh + e.certificates_planned_mwh,
        "certificates_planned_mwh": 0.0,
    })

    def times(d: dict[str, float]) -> dict[str, float]:
        return {key: v * k for key, v in d.items()}

    heat = a.heat.model_copy(update={
        "imports": [f.model_copy(update={"gj": f.gj * k}) for f in a.heat.imports],
        "exports": [f.model_copy(update={"gj": f.gj * k}) for f in a.heat.exports],
    })
    va = a.economy.industrial_value_added_wan_yuan
    return a.model_copy(update={
        "period": a.period.model_copy(update={"start": None, "through": None, "previous_year": None}),
        "electricity": electricity,
        "fuels": times(a.fuels), "feedstock": times(a.feedstock), "bunker": times(a.bunker),
        "transformation": a.transformation.model_copy(
            update={"inputs": times(a.transformation.inputs), "outputs": times(a.transformation.outputs)}
        ),
        "heat": heat,
        "process": [p.model_copy(update={"output_t": p.output_t * k}) for p in a.process],
        "economy": a.economy.model_copy(update={"industrial_value_added_wan_yuan": None if va is None else va * k}),
    })


def year_end_outlook(
    ytd: Account,
    framework: Framework,
    zone: ZoneInfo,
    *,
    indicator: str = "carbon_per_energy",
    horizon: str | None = None,
    variant: str | None = None,
    min_completeness: float = 0.95,
) -> Outlook:
    """Year-to-date value and year-end projection of one (annual) indicator."""
    ind = framework.indicator(indicator)
    horizon = horizon or framework.default_horizon
    k, method = scale_factor(ytd.activity, zone)
    full = account(scale_activity(ytd.activity, k), ytd.factors)
    projected = evaluate_indicator(ind, full, horizon=horizon, variant=variant, min_completeness=min_completeness)
    # the year-to-date value is judged against the tier of the projected year
    current = evaluate_indicator(
        ind, ytd, horizon=horizon, variant=variant, energy_tce=full.energy.total_tce, min_completeness=min_completeness
    )
    through = ytd.activity.period_end - timedelta(days=1)
    a = full.activity
    return Outlook(
        indicator, through.isoformat(), current, k, method,
        projected, full.energy.total_tce, full.emissions.total_co2_t, ytd.emissions.total_co2_t,
        full.energy.electricity.fossil_grid_kwh,
        full.factors.for_period("co2.electricity.fossil", a.period_start, a.period_end).per_unit,
    )


def gap_to_target(outlook: Outlook) -> dict | None:
    """For an upper-bound target: CO2 still allowed this year and the GEC MWh that would close a gap.

    Assumes the projected year's energy use (outlook.method); certificates relabel grid power
    at the fossil factor and change no energy, and can cover only the projected grid power not
    yet covered. None when the projected year has no target to compare with.
    """
    p = outlook.projected
    if p.target is None or p.comparator != "<=" or p.value is None or isinstance(p.value, bool):
        return None
    allowed = p.target * outlook.projected_energy_tce
    gap = max(0.0, outlook.projected_co2_t - allowed)
    coverable = outlook.projected_fossil_grid_kwh * outlook.fossil_factor_t_per_kwh
    gec_mwh = gap / (outlook.fossil_factor_t_per_kwh * 1000) if outlook.fossil_factor_t_per_kwh else None
    return {
        "target": p.target,
        "allowed_co2_t": allowed,
        "co2_to_date_t": outlook.ytd_co2_t,
        "allowed_rest_of_year_co2_t": allowed - outlook.ytd_co2_t,
        "projected_rest_of_year_co2_t": outlook.projected_co2_t - outlook.ytd_co2_t,
        "gap_co2_t": gap,
        "gec_mwh_to_close": gec_mwh,
        "gec_can_close": gap <= coverable * (1 + 1e-9),
        "assumptions": [
            f"energy use of the year as projected ({outlook.method}): {outlook.projected_energy_tce:.6g} tce",
            f"allowed = target {p.target} x projected energy",
            f"certificates relabel grid power at {outlook.fossil_factor_t_per_kwh * 1000:.4g} tCO2/MWh and change "
            "no energy",
            f"at most the projected uncovered grid power can be covered: {outlook.projected_fossil_grid_kwh / 1000:.6g}"
            f" MWh ({coverable:.6g} tCO2)",
        ],
    }

