"""`finlab generate`: build the world, plan every flow once, then write transactions window by window.

Memory stays bounded by one window of transactions. Each window draws from its own random stream
(seed, window index, flow), so the output is the same whether windows run in order or apart.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from finlab.config import Scenario
from finlab.io import open_writer, parquet_bytes, to_arrow
from finlab.remote import PartSink, is_url
from finlab.rng import generator
from finlab.schema import (
    ACCOUNT_LABELS,
    CASE_LABELS,
    CHANNELS,
    LABELS,
    OBSERVABLES,
    OBSERVED_LABELS,
    TRANSACTION_LABELS,
    TRANSACTIONS,
    TS,
    storage_schema,
)
from finlab.typologies import TYPOLOGIES, Cases, Roles
from finlab.typologies.base import materialize_cases
from finlab.world.behaviours import BEHAVIOURS
from finlab.world.population import World, build_world
from finlab.world.streams import Clock, Streams, TxnBlock, Window, materialize, windows

Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class Plan:
    """Everything decided before the first transaction is written."""

    world: World
    clock: Clock
    flows: list[tuple[str, list[Streams]]]
    windows: list[Window]
    cases: list[Cases]
    roles: Roles  # account labels of every case and look-alike

    @property
    def n_cases(self) -> int:
        return int(sum(c.case_ids.size for c in self.cases))


def make_clock(world: World) -> Clock:
    sc = world.scenario
    end = sc.period.start + dt.timedelta(days=sc.period.days)
    month, months = dt.date(sc.period.start.year, sc.period.start.month, 1), []
    while month <= end:
        months.append((month - sc.period.start).days)
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return Clock(
        epoch=world.epoch(),
        start_weekday=sc.period.start.weekday(),
        month_starts=np.array(months, dtype=np.int64),
        utc_offset_s=world.account_utc_offset_s(),
        fx=world.account_fx(),
    )


def plan(scenario: Scenario) -> Plan:
    """Build the world, plan every behaviour's streams and every typology's cases."""
    world = build_world(scenario)
    flows, roles = [], []
    for name, params in scenario.behaviours.items():
        behaviour = BEHAVIOURS.get(name)(params)
        streams = behaviour.plan(world, generator(scenario.seed, "behaviour", name))
        flows.append((name, streams))
        roles.append(look_alike_roles(world, streams, behaviour.look_alike_side))
    cases, next_id = [], 1
    for i, spec in enumerate(scenario.typologies):
        typology = TYPOLOGIES.get(spec.name)(spec.params)
        ids = np.arange(next_id, next_id + spec.count, dtype=np.int64)
        c = typology.plan(world, generator(scenario.seed, "typology", i, spec.name), ids)
        next_id += c.case_ids.size  # look-alikes return no cases and use no ids
        cases.append(c)
        roles.append(c.roles)
    return Plan(
        world=world,
        clock=make_clock(world),
        flows=flows,
        windows=windows(scenario.period.days, scenario.period.window_days),
        cases=cases,
        roles=Roles.concat(roles),
    )


def look_alike_roles(world: World, streams: list[Streams], side: str) -> Roles:
    """Account labels decoy:<class> for the accounts of behaviour streams marked as look-alikes."""
    parts = []
    for s in streams:
        marked = s.label > 0
        if marked.any():
            acc = (s.src if side == "src" else s.dst)[marked]
            pairs = np.unique(np.stack([acc, s.label[marked].astype(np.int64)]), axis=1)
            names = np.array(world.labels.words, dtype=object)[pairs[1]]
            parts.append(Roles(pairs[0], names, np.full(pairs.shape[1], -1, np.int64)))
    return Roles.concat(parts)


def materialize_window(p: Plan, w: Window) -> TxnBlock:
    """All transactions of one window, ordered by time with ties broken at random."""
    seed = p.world.scenario.seed
    blocks = []
    for name, streams in p.flows:
        for i, s in enumerate(streams):
            blocks.append(materialize(s, w, p.clock, generator(seed, "window", w.index, name, i)))
    for i, cases in enumerate(p.cases):
        rng = generator(seed, "window", w.index, "typology", i)
        blocks.append(materialize_cases(cases, w, p.clock, rng))
    block = TxnBlock.concat(blocks)
    rng = generator(seed, "window", w.index, "order")
    key = (block.ts << 20) | rng.integers(0, 1 << 20, len(block), dtype=np.int64)
    return block.take(np.argsort(key, kind="stable"))


def part_name(table: str, window: int) -> str:
    """Where a window's rows of a table go: every run writes one part per window."""
    return f"{table}/part-{window:05d}.parquet"


@dataclass
class WindowPart:
    """What writing one window left behind: per file its rows and SHA-256, and the case ids
    and times (seconds) of its suspicious transactions, for the case table."""

    files: dict[str, tuple[int, str]]
    case_id: np.ndarray
    ts: np.ndarray


#: materializes windows: a generator that yields None once the windows are under way (so the
#: caller writes the world's own tables meanwhile), then each window's part in window order
WindowRunner = Callable[[Plan, PartSink, list[Window]], Iterator[WindowPart | None]]


def write_window(p: Plan, sink: PartSink, w: Window) -> WindowPart:
    """Materialize one window and write its transactions and their labels as parts. Runs
    anywhere (a thread, a Dask worker): the bytes depend only on the plan and the window."""
    txns, labels = block_tables(p, w, materialize_window(p, w))
    files = {}
    for table, rows in (("transactions", txns), ("labels/transactions", labels)):
        rel = part_name(table, w.index)
        files[rel] = (rows.num_rows, sink.put(rel, parquet_bytes(rows)))
    case = labels.column("case_id").to_numpy(zero_copy_only=False)
    flagged = ~np.isnan(case) if case.dtype.kind == "f" else np.ones(case.size, bool)
    ts = txns.column("ts").cast(pa.int64()).to_numpy()[flagged]
    return WindowPart(files, case[flagged].astype(np.int64), ts)


def threaded_windows(threads: int = 2) -> WindowRunner:
    """The one-process runner: the next windows materialize while one is written (numpy and
    Parquet release the GIL); results come back in window order."""
    def run(p: Plan, sink: PartSink, ws: list[Window]) -> Iterator[WindowPart | None]:
        n = max(threads, 1)
        with ThreadPoolExecutor(max_workers=n) as pool:
            pending = [pool.submit(write_window, p, sink, w) for w in ws[:n]]
            nxt = len(pending)
            yield None
            while pending:
                part = pending.pop(0).result()
                if nxt < len(ws):
                    pending.append(pool.submit(write_window, p, sink, ws[nxt]))
                    nxt += 1
                yield part
    return run


def _dictionary(codes: np.ndarray, words, mask: np.ndarray | None = None) -> pa.DictionaryArray:
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(words), pa.string()))


def block_tables(p: Plan, w: Window, block: TxnBlock) -> tuple[pa.Table, pa.Table]:
    """The transactions and their labels as Arrow tables in the storage schema."""
    world, clock = p.world, p.clock
    n = len(block)
    txn_id = generator(world.scenario.seed, "window", w.index, "ids").integers(
        1, 2**62, size=n, dtype=np.int64
    )
    src_bank, dst_bank = world.acc_bank[block.src], world.acc_bank[block.dst]
    countries = world.country_codes
    currency = [c.currency for c in world.scenario.countries]
    src_country = world.bank_country[src_bank]
    amount_base = np.round(block.amount * clock.fx[block.src], 2)
    txns = pa.Table.from_arrays(
        [
            pa.array(txn_id),
            pa.array(block.ts.astype("datetime64[s]"), TS),
            pa.array(world.account_id[block.src]),
            pa.array(world.account_id[block.dst]),
            _dictionary(src_bank, world.bank_id),
            _dictionary(dst_bank, world.bank_id),
            _dictionary(src_country, countries),
            _dictionary(world.bank_country[dst_bank], countries),
            pa.array(block.amount),
            _dictionary(src_country, currency),
            pa.array(amount_base),
            _dictionary(block.channel, CHANNELS),
            _dictionary(block.reference, world.vocab.words),
        ],
        schema=storage_schema(TRANSACTIONS),
    )
    none = block.case_id < 0
    labels = pa.Table.from_arrays(
        [
            pa.array(txn_id),
            pa.array(~none),
            _dictionary(block.typology, world.labels.words, mask=block.typology == 0),
            pa.array(block.case_id, mask=none),
        ],
        schema=storage_schema(TRANSACTION_LABELS),
    )
    return txns, labels


def generate(
    scenario: Scenario,
    out: Path | str,
    *,
    force: bool = False,
    progress: Progress = _quiet,
    threads: int = 2,
    run_windows: WindowRunner | None = None,
) -> Path | str:
    """Generate the scenario's dataset into directory `out`, a local path or a filesystem URL
    (atomically; refused before any work when `out` may not be written or the scenario cannot
    fit in memory). `run_windows` materializes the windows (default: threads in this process;
    finlab.engine runs them as Dask tasks); every runner writes the same parts."""
    from finlab.memory import check_fits
    from finlab.outputs import check_output

    if is_url(out):
        open_writer(out, force=force).check()
    else:
        check_output(out, force=force)
    check_fits(scenario, f"scenario {scenario.name!r}")
    progress("planning the world", 0, 1)
    p = plan(scenario)
    progress("planning the world", 1, 1)
    manifest = {
        "scenario": scenario.model_dump(mode="json"),
        "seed": scenario.seed,
        "windows": len(p.windows),
    }
    with open_writer(out, force=force, manifest=manifest) as writer:
        tally = CaseTally(p.n_cases)
        total = len(p.windows)
        progress("writing transactions", 0, total)
        runner = run_windows or threaded_windows(threads)
        # closed before the writer cleans up on an error, so no task writes after that
        with closing(runner(p, writer.sink(), p.windows)) as parts:
            next(parts)  # the windows are under way: write the world's tables meanwhile
            tables = p.world.tables()
            for name in ("countries", "banks", "parties", "accounts"):
                writer.write(name, to_arrow(tables[name], storage_schema(OBSERVABLES[name])))
            writer.write("labels/party_attributes", to_arrow(
                tables["party_attributes"], storage_schema(LABELS["party_attributes"])))
            writer.write("labels/accounts",
                         to_arrow(account_labels(p), storage_schema(ACCOUNT_LABELS)))
            for i, part in enumerate(parts):
                for rel, (rows, digest) in part.files.items():
                    writer.record(rel, rows, digest)
                tally.add_flagged(part.case_id, part.ts)
                progress("writing transactions", i + 1, total)
        cases = case_table(p, tally)
        writer.write("labels/cases", to_arrow(cases, storage_schema(CASE_LABELS)))
        if scenario.observed_labels is not None:
            observed = observed_labels(p, cases, scenario.observed_labels)
            writer.write("labels/observed", to_arrow(observed, storage_schema(OBSERVED_LABELS)))
    return out if is_url(out) else Path(out)


def account_labels(p: Plan) -> pd.DataFrame:
    """One row per (account, role, case); the typology of look-alikes is their decoy class."""
    r = p.roles
    typology_of_case = np.empty(p.n_cases + 1, dtype=object)
    for c in p.cases:
        typology_of_case[c.case_ids] = c.typology
    typology = np.where(r.case_id >= 0, typology_of_case[np.maximum(r.case_id, 0)], r.role)
    df = pd.DataFrame({
        "account_id": p.world.account_id[r.account],
        "role": r.role,
        "typology": typology,
        "case_id": pd.array(np.where(r.case_id >= 0, r.case_id, 0), dtype="Int64"),
    })
    df.loc[r.case_id < 0, "case_id"] = pd.NA
    return df.drop_duplicates().sort_values(["account_id", "role", "case_id"], ignore_index=True)


class CaseTally:
    """First and last time and number of transactions per case, accumulated window by window."""

    def __init__(self, n_cases: int) -> None:
        self.first = np.full(n_cases + 1, np.iinfo(np.int64).max)
        self.last = np.full(n_cases + 1, np.iinfo(np.int64).min)
        self.count = np.zeros(n_cases + 1, np.int64)

    def add_flagged(self, case: np.ndarray, ts: np.ndarray) -> None:
        """Count transactions of cases: their case ids and times in seconds."""
        if not case.size:
            return
        np.minimum.at(self.first, case, ts)
        np.maximum.at(self.last, case, ts)
        self.count += np.bincount(case, minlength=self.count.size)


def case_table(p: Plan, tally: CaseTally) -> pd.DataFrame:
    rows = []
    n_accounts = pd.Series(p.roles.account).groupby(p.roles.case_id).nunique()
    for c in p.cases:
        params = json.dumps(c.parameters, sort_keys=True)
        for cid in c.case_ids.tolist():
            seen = tally.count[cid] > 0
            rows.append({
                "case_id": cid,
                "typology": c.typology,
                "parameters": params,
                "first_ts": pd.Timestamp(int(tally.first[cid]), unit="s", tz="UTC") if seen else pd.NaT,
                "last_ts": pd.Timestamp(int(tally.last[cid]), unit="s", tz="UTC") if seen else pd.NaT,
                "n_accounts": int(n_accounts.get(cid, 0)),
                "n_transactions": int(tally.count[cid]),
            })
    if not rows:
        return CASE_LABELS.empty_table().to_pandas()
    return pd.DataFrame(rows)


def observed_labels(p: Plan, cases: pd.DataFrame, cfg) -> pd.DataFrame:
    """Noisy, delayed account flags: found cases' accounts after a delay, plus false flags on
    look-alike accounts at random times; missed cases are simply absent."""
    rng = generator(p.world.scenario.seed, "observed_labels")
    r, world = p.roles, p.world
    found = cases.loc[rng.random(len(cases)) < cfg.recall, ["case_id", "first_ts"]]
    in_case = pd.DataFrame({"account_pos": r.account, "case_id": r.case_id}).merge(
        found, on="case_id")
    in_case = in_case.drop_duplicates(["account_pos", "case_id"])
    delay = pd.to_timedelta(rng.exponential(cfg.delay_days, len(in_case)) * 86_400, unit="s")
    flagged = pd.DataFrame({
        "account_id": world.account_id[in_case["account_pos"].to_numpy()],
        "flagged_at": (in_case["first_ts"] + delay).dt.floor("s"),
        "source": "case",
        "case_id": in_case["case_id"].to_numpy(),
    })
    decoys = np.unique(r.account[r.case_id < 0])
    wrong = decoys[rng.random(decoys.size) < cfg.false_flag_rate]
    seconds = rng.integers(0, world.scenario.period.days * 86_400, wrong.size)
    false = pd.DataFrame({
        "account_id": world.account_id[wrong],
        "flagged_at": pd.to_datetime(world.epoch() + seconds, unit="s", utc=True),
        "source": "false_flag",
        "case_id": pd.array([pd.NA] * wrong.size, dtype="Int64"),
    })
    out = pd.concat([flagged.astype({"case_id": "Int64"}), false], ignore_index=True)
    return out.sort_values(["flagged_at", "account_id"], ignore_index=True)
