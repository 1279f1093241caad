"""IBM AMLSim outputs in both of their layouts.

- "old" (the 20K_* samples): nodes.csv (nodeid, isFraud, init_balance, fraudStep), transactions.csv
  (sourceNodeId, targetNodeId, value, time) and metadata.txt ("patterns: 200 cycles").
- "new" (sample_outputs): accounts.csv (with country and isFraud), tx.csv, cash_tx.csv and
  alerts.csv (the accounts of each alert and its CHECK_NAME typology).

AMLSim labels accounts, not transactions: a transaction is laundering when both of its accounts
are fraud accounts, and laundering transactions that share accounts form one case (typology from
the alerts, else from metadata.txt, else "unknown"). Times are steps of one day from --start
(AMLSim's default base date 2017-01-01). Archives (.tgz) and directories can be given as they are.
cash_tx.csv rows are read like tx.csv rows (ACCOUNT_ID pays BRANCH_ID) with channel cash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finlab.errors import InputError
from finlab.interop.accounts import account_attrs, component_keys, stable_ids
from finlab.interop.columns import normalise_typology, remap
from finlab.interop.exporter import CsvOut, DatasetReader, format_times, payment_words
from finlab.interop.formats import FORMATS, ZZ, Format, Progress, Steps, make_rows
from finlab.interop.importer import ImportJob

NODES = ["nodeid", "isFraud", "init_balance", "fraudStep"]
OLD_TX = ["sourceNodeId", "targetNodeId", "value", "time"]
ACCOUNTS = ["ACCOUNT_ID", "PRIMARY_CUSTOMER_ID", "init_balance", "start", "end", "country",
            "business", "suspicious", "isFraud", "modelID"]
TX = ["TXN_ID", "ACCOUNT_ID", "COUNTER_PARTY_ACCOUNT_NUM", "TXN_SOURCE_TYPE_CODE", "tx_count",
      "TXN_AMOUNT_ORIG", "start", "end"]
CASH_TX = ["TXN_ID", "ACCOUNT_ID", "BRANCH_ID", "TXN_SOURCE_TYPE_CODE", "tx_count",
           "TXN_AMOUNT_ORIG", "RUN_DATE", "end"]
ALERTS = ["ALERT_KEY", "ALERT_TEXT", "ACCOUNT_ID", "CUSTOMER_ID", "EVENT_DATE", "CHECK_NAME",
          "Organization_Type", "Escalated_To_Case_Investigation"]
#: file role -> (columns, layout, what)
ROLES = {
    "nodes": (NODES, "old", "an AMLSim nodes.csv"),
    "transactions": (OLD_TX, "old", "an AMLSim transactions.csv"),
    "accounts": (ACCOUNTS, "new", "an AMLSim accounts.csv"),
    "tx": (TX, "new", "an AMLSim tx.csv"),
    "cash_tx": (CASH_TX, "new", "an AMLSim cash_tx.csv"),
    "alerts": (ALERTS, "new", "an AMLSim alerts.csv"),
}
TYPES = ("CHECK", "CREDIT", "WIRE", "DEPOSIT", "TRANSFER", "CASH-IN", "CASH-OUT")
TYPE_OF = {"card": "CREDIT", "transfer": "TRANSFER", "remittance": "WIRE", "p2p_app": "TRANSFER",
           "crypto": "TRANSFER"}
CURRENCY = "USD"
#: AMLSim's pattern kinds as metadata.txt counts them ("200 cycles")
PLURALS = {"cycles": "cycle", "fan_ins": "fan_in", "fan_outs": "fan_out", "stacks": "stack",
           "bipartites": "bipartite", "randoms": "random", "scatter_gathers": "scatter_gather",
           "gather_scatters": "gather_scatter"}


def _role(head: str) -> str | None:
    """The AMLSim file a header line belongs to (by its first three columns), if any."""
    first = [h.strip().lower() for h in head.split(",")[:3]]
    for role, (columns, _, _) in ROLES.items():
        if first == [c.lower() for c in columns[:3]]:
            return role
    return None


def _bank(country: pa.Array) -> pa.Array:
    """AMLSim has no banks: one per country."""
    country = country if pa.types.is_dictionary(country.type) else country.dictionary_encode()
    return remap(country, {c: f"AMLSIM-{c}" for c in country.dictionary.to_pylist()})


@FORMATS.register("amlsim")
class AMLSim(Format):
    """AMLSim outputs, old (nodes/transactions) or new (accounts/tx/cash_tx/alerts) layout."""

    title = "AMLSim"
    time_unit = "D"
    steps = True
    layouts = ("new", "old")
    labels_by = "account"
    carries = frozenset({"country", "channel"})
    channel_back: ClassVar[dict[str, str]] = {
        "card": "transfer", "transfer": "transfer", "remittance": "transfer",
        "p2p_app": "transfer", "crypto": "transfer", "cash": "cash"}
    missing_fields = ("banks", "transactions.src_bank", "transactions.dst_bank",
                      "transactions.currency", "transactions.amount_base", "transactions.ts",
                      "accounts.opened_at", "labels/transactions (from account flags)")

    def roundtrip(self, layout: str) -> dict:
        if layout == "old":  # no countries, no types, no transaction ids
            return {"carries": frozenset(), "labels_by": "account",
                    "channel_back": {c: "transfer" for c in self.channel_back}}
        return {**super().roundtrip(layout), "carries": self.carries | {"txn_id"}}

    # reading --------------------------------------------------------------------------------------
    def open(self, job: ImportJob) -> None:
        self.files: dict[str, Path] = {}
        self.pattern_typology = None
        for path in job.files:
            head = job.head(path)
            role = _role(head) if head is not None else None
            if role is not None:
                job.role(path, role)
                self.files[role] = path
            elif head is not None and head.lower().startswith("nodes:"):
                job.role(path, "metadata")
                self.pattern_typology = _metadata_typology(path)
            else:
                job.unknown_file(path, "an AMLSim file: " + "; ".join(
                    f"{what} ({','.join(c[:3])},...)" for c, _, what in ROLES.values()))
        layouts = {ROLES[r][1] for r in self.files}
        if len(layouts) != 1:
            found = ", ".join(Path(p).name for p in self.files.values()) or "none"
            raise InputError(f"{job.files[0]}: AMLSim files of one layout expected: nodes.csv and "
                             "transactions.csv (old), or accounts.csv with tx.csv and/or "
                             f"cash_tx.csv (new); found {found}")
        job.layout = self.layout = layouts.pop()
        need = ["nodes", "transactions"] if self.layout == "old" else ["accounts"]
        for role in need:
            if role not in self.files:
                raise InputError(f"{job.files[0]}: the AMLSim {self.layout} layout needs "
                                 f"{ROLES[role][2]}")
        if self.layout == "new" and not {"tx", "cash_tx"} & set(self.files):
            raise InputError(f"{job.files[0]}: no AMLSim tx.csv or cash_tx.csv among the inputs")
        self.csv = {r: job.csv(p, ROLES[r][0], what=ROLES[r][2],
                               dictionary=[c for c in ("country", "business", "isFraud",
                                                       "TXN_SOURCE_TYPE_CODE", "CHECK_NAME")])
                    for r, p in self.files.items()}
        self._read_accounts(job)
        self.alert_typology = self._read_alerts() if "alerts" in self.files else None
        job.dropped.update(["init_balance", "fraudStep", "tx_count", "end", "modelID",
                            "suspicious", "PRIMARY_CUSTOMER_ID" if self.layout == "old" else ""])
        job.dropped.discard("")
        job.notes["labels"] = ("laundering = both accounts are fraud accounts (AMLSim labels "
                               "accounts)")
        if self.layout == "new":
            job.notes["reference_holds"] = "TXN_SOURCE_TYPE_CODE"
        self.txn_ids: list[np.ndarray] = []

    def _read_accounts(self, job: ImportJob) -> None:
        """Fraud flags and (new layout) countries, kinds and customers of the accounts."""
        role = "nodes" if self.layout == "old" else "accounts"
        id_col = "nodeid" if role == "nodes" else "ACCOUNT_ID"
        ids, fraud, country, business, customer, text = [], [], [], [], [], []
        for b in self.csv[role].batches():
            ids_b = b.integer(id_col)
            fraud_b = b.flag01("isFraud")
            text_b = b.text(id_col)
            if role == "accounts":
                country_b, business_b = b.text("country"), b.text("business")
                customer_b = b.text("PRIMARY_CUSTOMER_ID")
                b.number("init_balance")
            else:
                b.number("init_balance")
                b.integer("fraudStep")
            keep = b.keep()
            mask = pa.array(keep)
            ids.append(ids_b[keep])
            fraud.append(fraud_b[keep])
            text.append(text_b.filter(mask))
            if role == "accounts":
                country.append(country_b.filter(mask).cast(pa.string()))
                business.append(business_b.filter(mask).cast(pa.string()))
                customer.append(customer_b.filter(mask))
        ids_a = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        order = np.argsort(ids_a, kind="stable")
        self.ids = ids_a[order]
        self.fraud = np.concatenate(fraud)[order] if fraud else np.zeros(0, bool)
        n = len(ids_a)
        if role == "accounts" and n:
            country_a = pa.concat_arrays(country).take(pa.array(order))
            country_a = pc.if_else(pc.equal(country_a, ""), ZZ, country_a)
            kind_a = pc.if_else(pc.equal(pa.concat_arrays(business).take(pa.array(order)), "I"),
                                "current", "business")
            customers = pa.concat_arrays(customer).take(pa.array(order))
            party = stable_ids(pa.array([""] * n), customers, salt="party")
            job.party_of = pd.Series(party, index=self.ids)
            job.party_names = pd.DataFrame({
                "party_id": party, "name": customers.to_pylist(),
                "kind": np.where(kind_a.to_numpy(zero_copy_only=False) == "business",
                                 "business", "person"),
                "original": customers.to_pylist()}).drop_duplicates("party_id")
        else:
            country_a = pa.array([ZZ] * n, pa.string())
            kind_a = pa.array(["current"] * n, pa.string())
        self.country = country_a
        self.kind = kind_a
        job.seeds.append((self.ids, account_attrs(
            n, bank=_bank(country_a), country=country_a, currency=CURRENCY, kind=kind_a,
            original=pa.concat_arrays(text).take(pa.array(order)) if text else [])))

    def _read_alerts(self) -> pd.Series:
        """The typology of each alerted account (its first alert's CHECK_NAME)."""
        ids, names = [], []
        for b in self.csv["alerts"].batches():
            a = b.integer("ACCOUNT_ID")
            c = b.text("CHECK_NAME")
            keep = b.keep()
            ids.append(a[keep])
            names.append(c.filter(pa.array(keep)).cast(pa.string()).to_pandas())
        s = pd.Series(normalise_typology(pd.concat(names)).to_numpy() if names else [],
                      index=np.concatenate(ids) if ids else [], dtype=object)
        return s[~s.index.duplicated()]

    def _lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position of each account in the accounts file and whether it is there."""
        pos = np.searchsorted(self.ids, ids)
        pos_c = np.minimum(pos, max(len(self.ids) - 1, 0))
        found = (self.ids[pos_c] == ids) if len(self.ids) else np.zeros(len(ids), bool)
        return pos_c, found

    def _side(self, ids: np.ndarray) -> dict:
        """Country, kind and fraud flag of each account id (from the accounts file)."""
        pos, found = self._lookup(ids)
        take = pa.array(pos)
        country = pc.if_else(pa.array(found), self.country.take(take), ZZ) if len(self.ids) else \
            pa.array([ZZ] * len(ids))
        kind = pc.if_else(pa.array(found), self.kind.take(take), "current") if len(self.ids) else \
            pa.array(["current"] * len(ids))
        fraud = found & (self.fraud[pos] if len(self.ids) else False)
        return {"country": country, "kind": kind, "fraud": fraud}

    def blocks(self, job: ImportJob) -> Iterator[pa.Table]:
        if self.layout == "old":
            yield from self._blocks(job, "transactions", "sourceNodeId", "targetNodeId", "value",
                                    "time", None)
        else:
            for role, dst, when in (("tx", "COUNTER_PARTY_ACCOUNT_NUM", "start"),
                                    ("cash_tx", "BRANCH_ID", "RUN_DATE")):
                if role in self.csv:
                    yield from self._blocks(job, role, "ACCOUNT_ID", dst, "TXN_AMOUNT_ORIG", when,
                                            "TXN_ID")
        ids = np.concatenate(self.txn_ids) if self.txn_ids else np.zeros(0, np.int64)
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise InputError(f"{self.files.get('tx', self.files.get('cash_tx'))}: TXN_ID "
                             f"{uniq[counts > 1][0]} appears {counts[counts > 1][0]} times; "
                             "transaction ids must be unique")

    def _blocks(self, job: ImportJob, role: str, src_col: str, dst_col: str, amount_col: str,
                step_col: str, id_col: str | None) -> Iterator[pa.Table]:
        """Rows of one AMLSim transactions file (old transactions.csv, tx.csv or cash_tx.csv)."""
        for b in self.csv[role].batches():
            src, dst = b.integer(src_col), b.integer(dst_col)
            src_text, dst_text = b.text(src_col), b.text(dst_col)
            amount = b.number(amount_col, positive=True)
            step = b.integer(step_col)
            txn = b.integer(id_col) if id_col else b.lines
            kind = b.text("TXN_SOURCE_TYPE_CODE") if b.has("TXN_SOURCE_TYPE_CODE") else None
            if b.has("tx_count"):
                b.integer("tx_count")
            keep = b.keep()
            mask = pa.array(keep)
            src, dst = src[keep], dst[keep]
            s, d = self._side(src), self._side(dst)
            flagged = s["fraud"] & d["fraud"]
            n = len(src)
            if kind is None:
                reference, channel = "", "transfer"
            else:
                reference = kind.filter(mask)
                words = reference.dictionary.to_pylist()
                channel = remap(reference, {w: "cash" if w.upper().startswith("CASH") else
                                            "transfer" for w in words})
            if role == "cash_tx":
                channel = "cash"
            self.txn_ids.append(txn[keep])
            yield make_rows(
                n, txn_id=txn[keep], ts=job.step_times(step[keep]), src_key=src_text.filter(mask),
                dst_key=dst_text.filter(mask), src_bank=_bank(s["country"]),
                dst_bank=_bank(d["country"]), src_country=s["country"],
                dst_country=d["country"], amount=amount[keep], currency=CURRENCY,
                channel=channel, reference=reference, is_suspicious=flagged,
                typology=self._typology(src, dst, flagged), src_kind=s["kind"],
                dst_kind=d["kind"], src_account=src, dst_account=dst)

    def _typology(self, src: np.ndarray, dst: np.ndarray, flagged: np.ndarray) -> np.ndarray:
        """A laundering row's typology: an alert of its payer, else of its payee, else the one of
        metadata.txt, else "unknown" (a case takes its rows' most common)."""
        out = np.full(len(src), None, dtype=object)
        rows = np.flatnonzero(flagged)
        if not len(rows):
            return out
        guess = np.full(len(rows), self.pattern_typology or "unknown", dtype=object)
        if self.alert_typology is not None and len(self.alert_typology):
            for side in (dst, src):  # the payer's alert wins
                t = self.alert_typology.reindex(side[rows]).to_numpy()
                guess = np.where(pd.notna(t), t, guess)
        out[rows] = guess
        return out

    def cases(self, susp: pd.DataFrame, job: ImportJob) -> tuple[pd.Series, dict[str, dict]]:
        """Connected laundering rows are one case whatever their rows' typologies."""
        flagged = pd.DataFrame({"account_id": self.ids[self.fraud]})
        flagged["typology"] = (self.alert_typology.reindex(flagged["account_id"]).to_numpy()
                               if self.alert_typology is not None else None)
        job.flagged_accounts = flagged
        keys = component_keys(susp, by_typology=False)
        return keys, {k: {"source": "amlsim", "derived": "accounts linked by laundering rows"}
                      for k in set(keys)}

    # writing --------------------------------------------------------------------------------------
    def export(self, ds: DatasetReader, out: Path, layout: str, progress: Progress) -> list[str]:
        """Write the new layout (accounts, tx, cash_tx, alerts) or the old one (nodes,
        transactions, metadata)."""
        acc = ds.accounts
        text = pa.array(ds.id_text("amlsim", acc["account_id"].to_numpy(),
                                   lambda ids: np.asarray(ids).astype(str)), pa.string())
        steps = Steps(ds.start(self.time_unit), 86400)
        cash_account = pa.array(acc["kind"].astype(str).to_numpy() == "cash")
        fraud = np.zeros(len(acc), bool)
        first_step = np.full(len(acc), np.iinfo(np.int64).max)
        alerts, last = [], 0
        if layout == "old":
            names = ["nodes.csv", "transactions.csv", "metadata.txt"]
            files = {"transactions": CsvOut(out / names[1], OLD_TX)}
        else:
            names = ["accounts.csv", "tx.csv", "cash_tx.csv", "alerts.csv"]
            files = {"tx": CsvOut(out / names[1], TX), "cash_tx": CsvOut(out / names[2], CASH_TX)}
        done = 0
        for t in ds.blocks():
            src, dst = ds.positions(t.column("src_account")), ds.positions(t.column("dst_account"))
            step = steps.of(t.column("ts").to_numpy())
            last = max(last, int(step.max()))
            flagged = t.column("is_suspicious").to_numpy()
            for pos in (src[flagged], dst[flagged]):
                fraud[pos] = True
                np.minimum.at(first_step, pos, step[flagged])
            if flagged.any():
                alerts.append(pd.DataFrame({
                    "case_id": t.column("case_id").to_numpy()[flagged],
                    "typology": t.column("typology").filter(pa.array(flagged)).to_pylist(),
                    "src": src[flagged], "dst": dst[flagged], "step": step[flagged]}))
            if layout == "old":
                files["transactions"].write([text.take(src), text.take(dst), t.column("amount"),
                                             pa.array(step)])
            else:
                self._write_new(t, files, text, src, dst, step, cash_account)
            done += t.num_rows
            progress("exporting", done, ds.n_rows)
        for f in files.values():
            f.close()
        if layout == "old":
            self._write_nodes(out / names[0], text, fraud, first_step)
            per_case = pd.concat(alerts).drop_duplicates("case_id") if alerts else pd.DataFrame(
                {"typology": []})
            counts = per_case["typology"].value_counts()
            patterns = ", ".join(f"{n} {t}" for t, n in counts.items())
            (out / names[2]).write_text(
                f"nodes: {len(acc):,} ({int(fraud.sum()):,} fraud nodes)\n"
                f"transactions: {ds.n_rows:,}\npatterns: {patterns or 0}\n")
        else:
            self._write_accounts(ds, out / names[0], text, fraud, last)
            self._write_alerts(ds, out / names[3], text, alerts, steps)
        return names

    def _write_new(self, t: pa.Table, files: dict, text: pa.Array, src: np.ndarray,
                   dst: np.ndarray, step: np.ndarray, cash_account: pa.Array) -> None:
        """tx.csv and cash_tx.csv rows of one block (cash rows go to cash_tx.csv)."""
        channel = t.column("channel").combine_chunks().cast(pa.string())
        cash = pc.equal(channel, "cash").to_numpy(zero_copy_only=False)
        kind = payment_words(t, TYPES, TYPE_OF, ("CASH-OUT", "CASH-IN"), cash_account.take(dst))
        cols = [t.column("txn_id"), text.take(src), text.take(dst), kind,
                pa.array(np.ones(t.num_rows, np.int8)), t.column("amount"), pa.array(step),
                pa.array(step)]
        for role, rows in (("tx", ~cash), ("cash_tx", cash)):
            if rows.any():
                mask = pa.array(rows)
                files[role].write([c.filter(mask) for c in cols])

    def _write_nodes(self, path: Path, text: pa.Array, fraud: np.ndarray,
                     first_step: np.ndarray) -> None:
        """nodes.csv of the old layout: fraud flag and first laundering step per account."""
        f = CsvOut(path, NODES)
        never = first_step == np.iinfo(np.int64).max
        f.write([text, pa.array(fraud.astype(np.int8)), pa.array(np.zeros(len(fraud))),
                 pa.array(np.where(never, -1, first_step))])
        f.close()

    def _write_accounts(self, ds: DatasetReader, path: Path, text: pa.Array, fraud: np.ndarray,
                        last: int) -> None:
        """accounts.csv of the new layout (balances are not modelled: 0)."""
        acc = ds.accounts
        person = self._persons(ds)
        n = len(acc)
        f = CsvOut(path, ACCOUNTS)
        f.write([text, self._customers(ds), pa.array(np.zeros(n)), pa.array(np.zeros(n, np.int64)),
                 pa.array(np.full(n, last, np.int64)), pa.array(acc["country"].astype(str)),
                 pa.array(np.where(person, "I", "B")), pa.array(["False"] * n),
                 pa.array(np.where(fraud, "true", "false")), pa.array(np.zeros(n, np.int8))])
        f.close()

    def _persons(self, ds: DatasetReader) -> np.ndarray:
        """Whether each account (accounts-table order) belongs to a person."""
        kinds = ds.parties.set_index("party_id")["kind"].astype(str)
        pos = kinds.index.get_indexer(ds.accounts["party_id"].to_numpy())
        return np.where(pos >= 0, kinds.to_numpy()[np.maximum(pos, 0)] == "person", True)

    def _customers(self, ds: DatasetReader) -> pa.Array:
        """PRIMARY_CUSTOMER_ID of each account: the source's own, else C_<party id>."""
        party = ds.accounts["party_id"].to_numpy()
        return pa.array(ds.id_text("amlsim", party, lambda ids: np.char.add(
            "C_", np.asarray(ids).astype(str)).astype(object), what="parties"), pa.string())

    def _write_alerts(self, ds: DatasetReader, path: Path, text: pa.Array,
                      alerts: list[pd.DataFrame], steps: Steps) -> None:
        """One alert per (case, account) of the laundering rows, dated by its last row."""
        rows = pd.concat(alerts, ignore_index=True) if alerts else pd.DataFrame(
            {"case_id": [], "typology": [], "src": [], "dst": [], "step": []})
        both = pd.concat([rows.rename(columns={"src": "pos"}).drop(columns="dst"),
                          rows.rename(columns={"dst": "pos"}).drop(columns="src")])
        both = both.sort_values(["case_id", "pos", "step"]).drop_duplicates(
            ["case_id", "pos"], keep="last")
        both["pos"] = both["pos"].astype(np.int64)
        person = self._persons(ds)[both["pos"].to_numpy()]
        f = CsvOut(path, ALERTS)
        n = len(both)
        dates = format_times(steps.start + both["step"].to_numpy(np.int64) * 86400, "%Y%m%d",
                             86400)
        f.write([pa.array(np.arange(n)), pa.array(both["case_id"].to_numpy(np.int64)),
                 text.take(pa.array(both["pos"].to_numpy())),
                 self._customers(ds).take(pa.array(both["pos"].to_numpy())), dates,
                 pa.array(both["typology"].astype(str).to_numpy()),
                 pa.array(np.where(person, "INDIVIDUAL", "ORGANIZATION")),
                 pa.array(["YES"] * n)])
        f.close()


def _metadata_typology(path: Path) -> str | None:
    """The typology of metadata.txt's "patterns: 200 cycles" line (one kind only), singular."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})") from None
    m = re.search(r"^patterns:\s*[\d,]+\s+([A-Za-z_ -]+?)\s*$", text, flags=re.MULTILINE)
    if not m:
        return None
    name = normalise_typology(pd.Series([m.group(1)])).iloc[0]
    return PLURALS.get(name, name)
