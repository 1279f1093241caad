"""`finlab generate`: build the world, plan every flow once, then write transactions window by window.

Memory stays bounded by one window of transactions. Each window draws from its own random stream
(seed, window index, flow), so the output is the same whether windows run in order or apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from finlab.config import Scenario
from finlab.io import DatasetWriter, to_arrow
from finlab.rng import generator
from finlab.schema import (
    ACCOUNT_LABELS, CASE_LABELS, CHANNELS, LABELS, OBSERVABLES, TRANSACTION_LABELS, TRANSACTIONS, TS,
    storage_schema,
)
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
    typology_names: list[str]


def make_clock(world: World) -> Clock:
    sc = world.scenario
    start = dt.datetime.combine(sc.period.start, dt.time(), dt.timezone.utc)
    epoch = int(start.timestamp())
    end = sc.period.start + dt.timedelta(days=sc.period.days)
    month, months = dt.date(sc.period.start.year, sc.period.start.month, 1), []
    while month <= end:
        months.append((month - sc.period.start).days)
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    offsets = (world.country_attr("utc_offset").astype(np.float64) * 3600).astype(np.int64)
    fx = np.array([sc.fx(c.currency) for c in sc.countries], dtype=np.float64)
    acc_country = world.acc_country
    return Clock(
        epoch=epoch,
        start_weekday=sc.period.start.weekday(),
        month_starts=np.array(months, dtype=np.int64),
        utc_offset_s=offsets[acc_country],
        fx=fx[acc_country],
    )


def plan(scenario: Scenario) -> Plan:
    """Build the world and plan every behaviour's streams for the whole period."""
    world = build_world(scenario)
    flows = []
    for name, params in scenario.behaviours.items():
        behaviour = BEHAVIOURS.get(name)(params)
        flows.append((name, behaviour.plan(world, generator(scenario.seed, "behaviour", name))))
    return Plan(
        world=world,
        clock=make_clock(world),
        flows=flows,
        windows=windows(scenario.period.days, scenario.period.window_days),
        typology_names=[],
    )


def materialize_window(p: Plan, w: Window) -> TxnBlock:
    """All transactions of one window, ordered by time with ties broken at random."""
    seed = p.world.scenario.seed
    blocks = []
    for name, streams in p.flows:
        for i, s in enumerate(streams):
            blocks.append(materialize(s, w, p.clock, generator(seed, "window", w.index, name, i)))
    block = TxnBlock.concat(blocks)
    rng = generator(seed, "window", w.index, "order")
    key = (block.ts << 20) | rng.integers(0, 1 << 20, len(block), dtype=np.int64)
    return block.take(np.argsort(key, kind="stable"))


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
            _dictionary(np.maximum(block.typology, 0), p.typology_names or [""], mask=none),
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
) -> Path:
    """Generate the scenario's dataset into directory `out` (atomically)."""
    progress("planning the world", 0, 1)
    p = plan(scenario)
    progress("planning the world", 1, 1)
    manifest = {
        "scenario": scenario.model_dump(mode="json"),
        "seed": scenario.seed,
        "windows": len(p.windows),
    }
    with DatasetWriter(out, force=force, manifest=manifest) as writer:
        tables = p.world.tables()
        for name in ("countries", "banks", "parties", "accounts"):
            writer.write(name, to_arrow(tables[name], storage_schema(OBSERVABLES[name])))
        writer.write("labels/party_attributes",
                     to_arrow(tables["party_attributes"], storage_schema(LABELS["party_attributes"])))
        writer.write("labels/accounts", storage_schema(ACCOUNT_LABELS).empty_table())
        writer.write("labels/cases", storage_schema(CASE_LABELS).empty_table())

        def produce(w: Window):
            return block_tables(p, w, materialize_window(p, w))

        total = len(p.windows)
        progress("writing transactions", 0, total)
        # materialise the next window while the previous one is written (numpy and Parquet release
        # the GIL); results are consumed in window order, so the files do not depend on timing
        with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
            pending = [pool.submit(produce, w) for w in p.windows[: max(threads, 1)]]
            nxt = len(pending)
            for i in range(total):
                txns, labels = pending.pop(0).result()
                if nxt < total:
                    pending.append(pool.submit(produce, p.windows[nxt]))
                    nxt += 1
                writer.append("transactions", txns)
                writer.append("labels/transactions", labels)
                progress("writing transactions", i + 1, total)
    return Path(out)
