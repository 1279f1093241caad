"""PaySim (Lopez-Rojas et al. 2016), the mobile-money simulator behind the Kaggle "PS_2017..." file:
one CSV with step (hours), type, amount, the payer and payee names and balances, isFraud.

Quirks handled: the Kaggle file says oldbalanceOrg where the simulator's code says oldBalanceOrig
(headers are matched without regard to case, with those aliases); isFlaggedFraud may be absent.
Names carry a letter prefix (C customer, M merchant): M accounts become merchants. PaySim's fraud is
an account takeover: a TRANSFER to a mule followed on the next line by its CASH_OUT, so such a pair
is one case. PaySim has no banks, countries or currency; balances are dropped (finlab has none) and
written as 0.0 on export. The source's type is kept in `reference`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finlab.interop.columns import remap
from finlab.interop.exporter import CsvOut, DatasetReader, payment_words
from finlab.interop.formats import FORMATS, ZZ, Format, Progress, Steps, make_rows
from finlab.interop.importer import ImportJob

COLUMNS = ["step", "type", "amount", "nameOrig", "oldbalanceOrg", "newbalanceOrig", "nameDest",
           "oldbalanceDest", "newbalanceDest", "isFraud", "isFlaggedFraud"]
ALIASES = {"oldBalanceOrig": "oldbalanceOrg"}  # the simulator's spelling; case is ignored anyway
BALANCES = ["oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest"]
CHANNEL_OF = {"PAYMENT": "card", "TRANSFER": "transfer", "CASH_OUT": "cash", "CASH_IN": "cash",
              "DEBIT": "transfer"}
TYPE_OF = {"card": "PAYMENT", "transfer": "TRANSFER", "remittance": "TRANSFER",
           "p2p_app": "TRANSFER", "crypto": "PAYMENT"}  # cash: CASH_OUT or CASH_IN by direction
BANK, CURRENCY, TYPOLOGY = "PAYSIM", "USD", "account_takeover"


@FORMATS.register("paysim")
class PaySim(Format):
    """PaySim's transaction log (one file)."""

    title = "PaySim"
    time_unit = "h"
    steps = True
    carries = frozenset({"channel"})
    channel_back: ClassVar[dict[str, str]] = {
        "card": "card", "transfer": "transfer", "remittance": "transfer",
        "p2p_app": "transfer", "crypto": "card", "cash": "cash"}
    missing_fields = ("countries", "banks", "transactions.src_bank", "transactions.dst_bank",
                      "transactions.src_country", "transactions.dst_country",
                      "transactions.currency", "transactions.amount_base", "transactions.reference",
                      "transactions.ts", "accounts.opened_at", "labels/transactions.typology")

    def open(self, job: ImportJob) -> None:
        path = job.the_file("step,", "PaySim log (its header starts with step,type,amount)")
        self.log = job.csv(path, COLUMNS, what="a PaySim file", optional=["isFlaggedFraud"],
                           aliases=ALIASES, dictionary=["step", "type", "isFraud",
                                                        "isFlaggedFraud"])
        job.dropped.update(BALANCES + ["isFlaggedFraud"])
        job.notes["reference_holds"] = "type"
        job.notes["typology"] = f"{TYPOLOGY}: PaySim's fraud model (TRANSFER then CASH_OUT)"

    def blocks(self, job: ImportJob) -> Iterator[pa.Table]:
        for b in self.log.batches():
            step = b.integer("step")
            kind = b.choice("type", {w: w for w in CHANNEL_OF})
            amount = b.number("amount", positive=True)
            src, dst = b.text("nameOrig"), b.text("nameDest")
            for c in BALANCES:
                b.number(c)
            fraud = b.flag01("isFraud")
            if b.has("isFlaggedFraud"):
                b.flag01("isFlaggedFraud")
            keep = b.keep()
            mask = pa.array(keep)
            src, dst, kind = src.filter(mask), dst.filter(mask), kind.filter(mask)
            fraud = fraud[keep]
            n = len(src)
            yield make_rows(
                n, txn_id=b.lines[keep], ts=job.step_times(step[keep]), src_key=src,
                dst_key=dst, src_bank=BANK, dst_bank=BANK, src_country=ZZ, dst_country=ZZ,
                amount=amount[keep], currency=CURRENCY, channel=remap(kind, CHANNEL_OF),
                reference=kind, is_suspicious=fraud,
                typology=np.where(fraud, TYPOLOGY, None).astype(object),
                src_kind=_kinds(src), dst_kind=_kinds(dst))

    def cases(self, susp: pd.DataFrame, job: ImportJob) -> tuple[pd.Series, dict[str, dict]]:
        """A TRANSFER and the CASH_OUT of the same amount on the next line are one case."""
        s = susp.sort_values("txn_id")
        prev = s.shift(1)
        paired = ((s["reference"] == "CASH_OUT") & (prev["reference"] == "TRANSFER")
                  & (s["txn_id"] == prev["txn_id"] + 1) & (s["amount"] == prev["amount"]))
        own = "txn:" + s["txn_id"].astype(str)
        keys = own.where(~paired, "txn:" + prev["txn_id"].astype("Int64").astype(str))
        heads = set(keys[paired])
        params = {k: {"source": "paysim", "model": "TRANSFER then CASH_OUT"} for k in heads}
        return keys.reindex(susp.index), params

    def export(self, ds: DatasetReader, out: Path, layout: str, progress: Progress) -> list[str]:
        name = f"{ds.root.name}_paysim.csv"
        steps = Steps(ds.start(self.time_unit), 3600)
        acc = ds.accounts
        prefix = np.where(acc["kind"].astype(str) == "merchant", "M", "C")
        text = pa.array(ds.id_text(
            "paysim", acc["account_id"].to_numpy(),
            lambda ids: (pd.Series(prefix) + pd.Series(ids).astype(str)).to_numpy()), pa.string())
        cash_account = pa.array(acc["kind"].astype(str).to_numpy() == "cash")
        f = CsvOut(out / name, COLUMNS)
        done = 0
        for t in ds.blocks():
            src, dst = ds.positions(t.column("src_account")), ds.positions(t.column("dst_account"))
            n = t.num_rows
            kind = payment_words(t, CHANNEL_OF, TYPE_OF, ("CASH_OUT", "CASH_IN"),
                                 cash_account.take(dst))
            zero = pa.array(np.zeros(n))
            f.write([pa.array(steps.of(t.column("ts").to_numpy())), kind, t.column("amount"),
                     text.take(src), zero, zero, text.take(dst), zero, zero,
                     pa.array(t.column("is_suspicious").to_numpy().astype(np.int8)),
                     pa.array(np.zeros(n, np.int8))])
            done += n
            progress("exporting", done, ds.n_rows)
        f.close()
        return [name]


def _kinds(names: pa.Array) -> pa.Array:
    """Account kind from PaySim's name prefix: M merchants, C customers."""
    return pc.if_else(pc.starts_with(names.cast(pa.string()), "M"), "merchant", "current")
