"""Per-account profiles and the features a debit is scored on.

A profile is a small JSON-shaped dict, one per account, replaced (never mutated) on learning:

- ``n``: debits learned; ``last``: time of the last activity (any direction);
- ``amt``: per channel, the last :data:`RING` log amounts in CNY (robust quantiles come from it);
- ``hours``: a 24-bin histogram of debit hours (local to the event's offset);
- ``cps``: CRC-32 hashes of the last :data:`MAX_CPS` counterparties (a bounded novelty set);
- ``countries``: foreign counterparty countries seen; ``recent``: times of debits in the last hour.

The population (every account of the partition) contributes an hour histogram and per-channel
log-amount histograms, so that a new account is compared with its peers.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from monitor.events import Transaction, event_epoch
from monitor.models.histogram import Histogram

__all__ = [
    "ACCOUNT_FEATURES",
    "AccountPopulation",
    "account_features",
    "compact_account",
    "learn_account",
    "observe_account",
]

RING = 16
MAX_CPS = 32
MAX_COUNTRIES = 8
HOUR = 3600.0
DAY = 86_400.0
ACCOUNT_FEATURES = (
    "amount_vs_usual",
    "amount_vs_peers",
    "hour_rarity",
    "new_channel",
    "new_counterparty",
    "new_country",
    "dormancy",
    "velocity",
    "new_payee_amount",
    "dormant_amount",
)
LOG_SCALE = math.log(200.0)
"""An amount this many times the usual one is as unusual as a feature gets."""
LOG_HOUR = math.log(500.0)  # an hour this rare for the account saturates the feature
LOG1P90 = math.log1p(90.0)
ZERO_HOURS = (0,) * 24
REMOTE = frozenset({"mobile", "online", "atm"})
"""Channels without a teller checking the customer: only there are novelties a takeover sign."""
SESSION = 6 * HOUR
"""Activity this close to the previous one continues its session (and keeps its idle time)."""


def log_cny(amount: Decimal, currency: str, cny_per_unit: Mapping[str, float]) -> float:
    """The log of ``amount`` in CNY, with the rule set's table (a currency missing counts as CNY).

    >>> round(log_cny(Decimal("100"), "USD", {"USD": 7.1}), 4) == round(math.log(710.0), 4)
    True
    """
    return math.log(max(float(amount) * cny_per_unit.get(currency, 1.0), 0.01))


def clip01(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def counterparty_hash(counterparty: str) -> int:
    return zlib.crc32(counterparty.encode())


class LazyDetails(Mapping[str, Any]):
    """The details of a scored event, built by ``build`` on first read (once)."""

    __slots__ = ("_build", "_data")

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._data: dict[str, Any] | None = None

    def _dict(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._build()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


class AccountPopulation:
    """What every account of a partition does: debit hours and amounts per channel."""

    def __init__(self, home: str = "CN") -> None:
        self.home = home
        self.hours = Histogram(0.0, 1.0, 24)
        self.amounts: dict[str, Histogram] = {}
        self.first: float | None = None
        self.countries: dict[str, int] = {}
        self.foreign = 0  # sum(countries.values())

    def country_share(self, country: str) -> float:
        """Share of learned foreign debits that went to ``country`` (smoothed)."""
        return (self.countries.get(country, 0) + 1) / (self.foreign + 20)

    def observe(self, moment: float) -> None:
        if self.first is None:
            self.first = moment

    def learn(self, event: Transaction, log_amount: float) -> None:
        """Count a learned debit; ``log_amount`` is its :func:`log_cny`."""
        self.hours.add(event.occurred_at.hour)
        group = _peer_group(event)
        hist = self.amounts.get(group)
        if hist is None:
            hist = self.amounts[group] = Histogram(0.0, 0.25, 80)
        hist.add(log_amount)
        country = event.counterparty_country
        home = self.home
        if country not in (None, home) and (country in self.countries or len(self.countries) < 250):
            self.countries[country] = self.countries.get(country, 0) + 1
            self.foreign += 1

    def to_state(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "hours": self.hours.to_state(),
            "amounts": {k: v.to_state() for k, v in sorted(self.amounts.items())},
            "first": self.first,
            "countries": dict(sorted(self.countries.items())),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AccountPopulation:
        pop = cls(state["home"])
        pop.hours = Histogram.from_state(state["hours"])
        pop.amounts = {k: Histogram.from_state(v) for k, v in state["amounts"].items()}
        pop.first = state["first"]
        pop.countries = {k: int(v) for k, v in state["countries"].items()}
        pop.foreign = sum(pop.countries.values())
        return pop


def _excess(amount: float, usual: float | None) -> float:
    """How far a log amount exceeds a usual one, 1 at :data:`LOG_SCALE` (0 when unknown)."""
    return 0.0 if usual is None else clip01((amount - usual) / LOG_SCALE)


def _peer_group(event: Transaction) -> str:
    """Peers are accounts of the same type on the same channel (``individual:mobile``)."""
    return f"{event.account_type}:{event.channel}"


def _sorted_quantile(ordered: list[float], q: float) -> float:
    """The linearly interpolated ``q`` quantile of values sorted ascending."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _usual_amounts(profile: Mapping[str, Any], channel: str) -> list[float] | None:
    own = profile.get("amt", {})
    if len(own.get(channel, ())) >= 3:
        return list(own[channel])
    every = [v for ring in own.values() for v in ring]
    return every if len(every) >= 3 else None


def account_features(
    profile: Mapping[str, Any] | None,
    event: Transaction,
    pop: AccountPopulation,
    home: str = "CN",
    moment: float | None = None,
    cny_per_unit: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], Mapping[str, Any]]:
    """Features in [0, 1] (higher is more unusual) and the raw details that explain them (a
    :class:`LazyDetails`: built only when read, which only an alert does).

    ``moment`` is the event's POSIX time when the caller has it already.
    """
    profile = profile or {}
    if moment is None:
        moment = event_epoch(event)
    n = int(profile.get("n", 0))
    amount = log_cny(event.amount, event.currency, cny_per_unit or {})
    ordered = _usual_amounts(profile, event.channel)
    if ordered:
        ordered.sort()
    usual_p90 = _sorted_quantile(ordered, 0.9) if ordered else None
    usual_p50 = _sorted_quantile(ordered, 0.5) if ordered else None
    peers = pop.amounts.get(_peer_group(event))
    peers_p90 = peers.cached_quantile(0.9) if peers and peers.total >= 50 else None
    at = event.occurred_at
    hours = profile.get("hours") or ZERO_HOURS
    pop_share = (pop.hours.counts[at.hour] + 1) / (pop.hours.total + 24)
    p_hour = (hours[at.hour] + 4 * pop_share) / (n + 4)  # the hours histogram sums to n
    cp = event.counterparty_account
    country = event.counterparty_country
    idle_days = _idle_days(profile, moment, pop.first)
    remote = event.channel in REMOTE
    recent = [t for t in profile.get("recent", ()) if moment - t <= HOUR]
    features = {
        "amount_vs_usual": _excess(amount, usual_p90),
        "amount_vs_peers": _excess(amount, peers_p90),
        "hour_rarity": clip01(-math.log(p_hour) / LOG_HOUR),
        "new_channel": float(remote and n >= 3 and event.channel not in profile.get("amt", {})),
        "new_counterparty": float(
            remote
            and n >= 1
            and cp is not None
            and counterparty_hash(cp) not in profile.get("cps", ())
        ),
        "new_country": _new_country(profile, country, home, pop) if remote else 0.0,
        "dormancy": clip01(math.log1p(idle_days) / LOG1P90),
        "velocity": clip01(len(recent) / 4.0),
    }
    # A large amount to a payee the account never paid: the classic sign of a taken-over or
    # drained account (an account without history has no known payee).
    new_payee = remote and cp is not None and (n == 0 or features["new_counterparty"] > 0)
    large = features["amount_vs_usual"] if usual_p90 is not None else features["amount_vs_peers"]
    features["new_payee_amount"] = large if new_payee else 0.0
    # A long-quiet account suddenly moving a large sum: the dormant-account typology. Ordinary
    # customers back after a quiet spell move ordinary amounts; both factors must be high.
    features["dormant_amount"] = large * features["dormancy"]
    share = pop.country_share(country) if country else None  # now: the population learns on

    def details() -> dict[str, Any]:
        return {
            "amount_cny": math.exp(amount),
            "usual_p50": math.exp(usual_p50) if usual_p50 is not None else None,
            "usual_p90": math.exp(usual_p90) if usual_p90 is not None else None,
            "peers_p90": math.exp(peers_p90) if peers_p90 is not None else None,
            "hour": f"{at.hour:02d}:{at.minute:02d}",
            "usual_hours": hours,
            "channel": event.channel,
            "usual_channels": profile.get("amt", {}),
            "country": country,
            "country_share": share,
            "idle_days": idle_days,
            "debits_last_hour": len(recent) + 1,
            "history": n,
        }

    # Only an alert reads the details: they are built on first use (from the values of now).
    return features, LazyDetails(details)


def _new_country(
    profile: Mapping[str, Any], country: str | None, home: str, pop: AccountPopulation
) -> float:
    """A foreign country new to the account, graded by how rarely anyone pays there."""
    if country is None or country == home or country in profile.get("countries", ()):
        return 0.0
    return clip01(0.25 - math.log(pop.country_share(country)) / math.log(1000.0))


def _idle_days(profile: Mapping[str, Any], moment: float, first: float | None) -> float:
    """Days of quiet before the current session (since the stream began for a new account)."""
    last = profile.get("last")
    if last is None:
        return max(0.0, (moment - (moment if first is None else first)) / DAY)
    if moment - float(last) <= SESSION:
        return float(profile.get("idle", 0.0))
    return max(0.0, (moment - float(last)) / DAY)


def observe_account(
    profile: Mapping[str, Any] | None,
    event: Transaction,
    first: float | None = None,
    moment: float | None = None,
) -> dict[str, Any]:
    """The profile after any activity, learned or not: last activity and recent debits move."""
    new = dict(profile or {})
    if moment is None:
        moment = event_epoch(event)
    new["idle"] = round(_idle_days(new, moment, first), 3)
    new["last"] = max(float(new.get("last", moment)), moment)
    if event.direction == "debit":
        new["recent"] = [*[t for t in new.get("recent", ()) if moment - t <= HOUR][-8:], moment]
    return new


def learn_account(
    profile: Mapping[str, Any] | None, event: Transaction, log_amount: float
) -> dict[str, Any]:
    """A new profile with the debit ``event`` learned (call after :func:`observe_account`)."""
    new = dict(profile or {})
    new["n"] = int(new.get("n", 0)) + 1
    amt = dict(new.get("amt", {}))  # only the event's channel ring changes: copy that one
    ring = [*amt.get(event.channel, ()), round(log_amount, 4)]
    amt[event.channel] = ring[-RING:]
    new["amt"] = amt
    hours = list(new.get("hours") or [0] * 24)
    hours[event.occurred_at.hour] += 1
    new["hours"] = hours
    if event.counterparty_account is not None:
        code = counterparty_hash(event.counterparty_account)
        cps = new.get("cps", ())
        if not cps or cps[-1] != code:  # already the latest payee: nothing moves
            kept = [c for c in cps if c != code] if code in cps else cps
            new["cps"] = [*kept, code][-MAX_CPS:]
    country = event.counterparty_country
    if country is not None and country not in new.get("countries", ()):
        new["countries"] = [*new.get("countries", ()), country][-MAX_COUNTRIES:]
    return new


COMPACT_RING = 8
COMPACT_CPS = 16
ACCOUNT_HISTORY = ("n", "last", "amt", "hours", "cps", "countries")
"""What a compacted account profile keeps: its history, not its last session."""


def compact_account(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The profile of an account idle for long: its history (amount rings shortened to the last
    :data:`COMPACT_RING` per channel, the last :data:`COMPACT_CPS` payees, hours, countries,
    debits learned, last activity); session state (recent debits, recent transaction ids, held
    events, evidence, alert cool-down) is dropped.

    >>> compact_account({"n": 3, "last": 5.0, "recent": [4.0], "amt": {"atm": list(range(16))}})
    {'n': 3, 'last': 5.0, 'amt': {'atm': [8, 9, 10, 11, 12, 13, 14, 15]}}
    """
    new = {k: profile[k] for k in ACCOUNT_HISTORY if k in profile}
    if "amt" in new:
        new["amt"] = {channel: list(ring[-COMPACT_RING:]) for channel, ring in new["amt"].items()}
    if "cps" in new:
        new["cps"] = list(new["cps"][-COMPACT_CPS:])
    return new
