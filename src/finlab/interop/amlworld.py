"""IBM AMLworld (the "HI/LI-Small/Medium/Large" data of Altman et al. 2023): the 11-column
transactions file, the optional *_Patterns.txt of laundering attempts and the optional accounts
file.

Quirks handled: the header names "Account" twice (columns are taken by position); bank ids are
zero-padded numbers kept as text; currencies are full names ("US Dollar"); times are to the minute
("2022/09/01 00:20"); attempts in the patterns file are blocks "BEGIN LAUNDERING ATTEMPT - KIND:
variant" ... "END LAUNDERING ATTEMPT - KIND". The source's Payment Format is kept in `reference`
(AMLworld has no reference text), so an AMLworld dataset exports back with its own formats.
"""

from __future__ import annotations

import json
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
from finlab.interop.csv_reader import Batch
from finlab.interop.exporter import CsvOut, DatasetReader, clean_text, format_times, payment_words
from finlab.interop.formats import FORMATS, ZZ, Format, FormatWords, Progress, make_rows
from finlab.interop.importer import ImportJob

COLUMNS = ["Timestamp", "From Bank", "Account", "To Bank", "Account", "Amount Received",
           "Receiving Currency", "Amount Paid", "Payment Currency", "Payment Format",
           "Is Laundering"]
ACCOUNT_COLUMNS = ["Bank Name", "Bank ID", "Account Number", "Entity ID", "Entity Name"]
TIME_FORMAT, TIME_EXAMPLE = "%Y/%m/%d %H:%M", "2022/09/01 00:20"
CURRENCIES = FormatWords({
    "US Dollar": "USD", "Euro": "EUR", "Yuan": "CNY", "Yen": "JPY", "UK Pound": "GBP",
    "Rupee": "INR", "Ruble": "RUB", "Canadian Dollar": "CAD", "Australian Dollar": "AUD",
    "Swiss Franc": "CHF", "Mexican Peso": "MXN", "Brazil Real": "BRL", "Saudi Riyal": "SAR",
    "Shekel": "ILS", "Bitcoin": "BTC",
})
CHANNEL_OF = {"Credit Card": "card", "ACH": "transfer", "Wire": "transfer", "Cheque": "transfer",
              "Reinvestment": "transfer", "Cash": "cash", "Bitcoin": "crypto"}
FORMAT_OF = {"card": "Credit Card", "transfer": "ACH", "remittance": "Wire", "p2p_app": "ACH",
             "crypto": "Bitcoin", "cash": "Cash"}
BEGIN, END = "BEGIN LAUNDERING ATTEMPT", "END LAUNDERING ATTEMPT"
KEY = ["ts", "src_bank", "src_key", "dst_bank", "dst_key", "amount", "currency", "received",
       "received_currency", "reference"]


def _convert(b: Batch) -> dict:
    """One block of the 11-column layout as arrays (bad rows flagged, not yet dropped)."""
    return {
        "ts": b.time("Timestamp", TIME_FORMAT, TIME_EXAMPLE),
        "src_bank": b.text("From Bank"), "src_key": b.text("Account#2"),
        "dst_bank": b.text("To Bank"), "dst_key": b.text("Account#4"),
        "received": b.number("Amount Received"),
        "received_currency": b.currency("Receiving Currency", CURRENCIES.to_code),
        "amount": b.number("Amount Paid", positive=True),
        "currency": b.currency("Payment Currency", CURRENCIES.to_code),
        "reference": b.choice("Payment Format", {w: w for w in CHANNEL_OF}),
        "is_suspicious": b.flag01("Is Laundering"),
    }


def _keep(cols: dict, keep: np.ndarray) -> dict:
    """The good rows of every converted column."""
    mask = pa.array(keep)
    return {k: (v.filter(mask) if isinstance(v, pa.Array) else v[keep]) for k, v in cols.items()}


def _key_frame(cols: dict, rows: np.ndarray | None = None) -> pd.DataFrame:
    """The columns that identify a transaction (to find it in the patterns file), as values."""
    def col(v):
        v = v if rows is None else (v.take(pa.array(rows)) if isinstance(v, pa.Array) else v[rows])
        return v.cast(pa.string()).to_numpy(zero_copy_only=False) if isinstance(v, pa.Array) else v
    return pd.DataFrame({k: col(cols[k]) for k in KEY})


@FORMATS.register("amlworld")
class AMLworld(Format):
    """IBM AMLworld transactions, with its patterns and accounts files when given."""

    title = "IBM AMLworld"
    time_unit = "min"
    carries = frozenset({"bank", "currency", "channel", "typology", "case"})
    channel_back: ClassVar[dict[str, str]] = {
        "card": "card", "transfer": "transfer", "remittance": "transfer",
        "p2p_app": "transfer", "crypto": "crypto", "cash": "cash"}
    missing_fields = ("countries", "transactions.src_country", "transactions.dst_country",
                      "transactions.amount_base", "transactions.reference", "accounts.kind",
                      "accounts.opened_at")

    # reading --------------------------------------------------------------------------------------
    def open(self, job: ImportJob) -> None:
        self.trans = self.patterns = None
        for path in job.files:
            head = job.head(path)
            if head is None:
                job.unknown_file(path, "")
            elif head.startswith((BEGIN, END)) or (not head.strip() and path.suffix == ".txt"):
                job.role(path, "patterns")
                self.patterns = path
            elif head.lower().startswith("bank name"):
                job.role(path, "accounts")
                self._read_accounts(job, job.csv(path, ACCOUNT_COLUMNS, what="an AMLworld accounts "
                                                 "file", dictionary=["Bank Name", "Bank ID"]))
            elif head.lower().startswith("timestamp"):
                job.role(path, "transactions")
                self.trans = job.csv(path, COLUMNS, what="an AMLworld transactions file",
                                     positional=True, dictionary=[
                                         "Timestamp", "From Bank", "To Bank", "Receiving Currency",
                                         "Payment Currency", "Payment Format", "Is Laundering"])
            else:
                job.unknown_file(path, "the transactions file (Timestamp,From Bank,...), "
                                 "the patterns file or the accounts file")
        if self.trans is None:
            raise InputError(f"{job.files[0]}: no AMLworld transactions file among the inputs "
                             f"(its header starts with Timestamp,From Bank,Account)")
        self.attempts = self._read_patterns(job, self.patterns) if self.patterns else None
        job.dropped.add("Amount Received")
        job.notes["reference_holds"] = "Payment Format"
        if self.attempts is None:
            job.notes["typology"] = "unknown: no patterns file was given"

    def _read_accounts(self, job: ImportJob, f) -> None:
        """Bank names, and each account's owner (the entity) from the accounts file."""
        ids, banks, keys, parties, names, entities, bank_names = [], [], [], [], [], [], {}
        for b in f.batches():
            cols = [b.text(c) for c in ACCOUNT_COLUMNS]
            keep = pa.array(b.keep())
            bank_name, bank, key, entity, name = (c.filter(keep) for c in cols)
            ids.append(stable_ids(bank, key))
            # an account that is its own entity (Entity ID = Account Number) is its own party
            own = pc.equal(entity, key).to_numpy(zero_copy_only=False)
            parties.append(np.where(own, -1, stable_ids(pa.array([""] * len(entity)), entity,
                                                        salt="party")))
            banks.append(bank.cast(pa.string()))
            keys.append(key)
            names.append(name)
            entities.append(entity)
            words = pd.DataFrame({"id": bank.cast(pa.string()).to_pandas(),
                                  "name": bank_name.cast(pa.string()).to_pandas()})
            bank_names.update(words.drop_duplicates("id").set_index("id")["name"].to_dict())
        ids_a, party_a = np.concatenate(ids or [[]]).astype(np.int64), \
            np.concatenate(parties or [[]]).astype(np.int64)
        n = len(ids_a)
        job.bank_names.update(bank_names)
        job.party_of = pd.Series(party_a, index=ids_a)
        job.party_of = job.party_of[~job.party_of.index.duplicated() & (party_a >= 0)]
        job.seeds.append((ids_a, account_attrs(
            n, bank=pa.concat_arrays(banks) if banks else [], country=ZZ, currency=None,
            kind="current", original=pa.concat_arrays(keys) if keys else [], party_id=party_a)))
        name_s = pd.Series(pa.concat_arrays(names).to_pylist() if names else [], dtype=object)
        business = name_s.str.contains(r"Corporation|Partnership|Proprietorship|Company|LLC",
                                       regex=True)
        parties_df = pd.DataFrame({
            "party_id": party_a, "name": clean_text(name_s), "kind": np.where(
                business, "business", "person"),
            "original": pa.concat_arrays(entities).to_pylist() if entities else []})
        parties_df = parties_df[parties_df["party_id"] >= 0]
        job.party_names = parties_df.drop_duplicates("party_id").reset_index(drop=True)

    def _read_patterns(self, job: ImportJob, path: Path) -> pd.DataFrame:
        """The laundering attempts as rows of KEY columns with attempt number, kind and variant."""
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{path}:1: not a UTF-8 text file") from None
        except OSError as e:
            raise InputError(f"{path}: cannot be read ({e.strerror})") from None
        lines = pd.Series(text.splitlines(), dtype=object)
        number = np.arange(1, len(lines) + 1)
        begin = lines.str.startswith(BEGIN).to_numpy()
        end = lines.str.startswith(END).to_numpy()
        blank = (lines.str.strip() == "").to_numpy()
        open_after = np.cumsum(begin) - np.cumsum(end)
        open_before = open_after - begin + end

        def fail(mask, what):
            if mask.any():
                raise InputError(f"{path}:{number[np.argmax(mask)]}: {what}")
        fail(begin & (open_before != 0), "BEGIN LAUNDERING ATTEMPT before the previous attempt's "
                                         "END LAUNDERING ATTEMPT line")
        fail(end & (open_before != 1), "END LAUNDERING ATTEMPT without its BEGIN line")
        fail((open_before == 0) & ~begin & ~blank, "a line outside any laundering attempt; "
                                                  "expected BEGIN LAUNDERING ATTEMPT - KIND: ...")
        if len(lines) and open_after[-1] != 0:
            fail(begin & (np.arange(len(lines)) == np.flatnonzero(begin)[-1]),
                 "laundering attempt without its END LAUNDERING ATTEMPT line")
        heads = lines[begin].str.extract(rf"^{BEGIN}\s*-\s*([^:]*?)\s*(?::\s*(.*?))?\s*$")
        fail(begin & np.isin(number, number[begin][heads[0].fillna("").eq("").to_numpy()]),
             "BEGIN LAUNDERING ATTEMPT without a kind; expected "
             "BEGIN LAUNDERING ATTEMPT - KIND: variant")
        tails = lines[end].str.extract(rf"^{END}\s*-\s*(.*?)\s*$")[0].fillna("")
        mismatch = tails.to_numpy() != heads[0].to_numpy()
        fail(end & np.isin(number, number[end][mismatch]),
             "END LAUNDERING ATTEMPT names another kind than its BEGIN line")
        attempt = np.cumsum(begin)  # 1.. per attempt
        inside = (open_before == 1) & ~end & ~blank
        body = job.scratch / "patterns.csv"
        body.write_text("\n".join([",".join(COLUMNS), *lines[inside]]) + "\n")
        f = job.csv(body, COLUMNS, what="an AMLworld patterns line", positional=True,
                    shown_as=path, line_map=np.concatenate([[0], number[inside]]))
        parts = []
        for b in f.batches():
            cols = _convert(b)
            keep = b.keep()
            frame = _key_frame(_keep(cols, keep))
            frame["attempt"] = attempt[b.lines[keep] - 1]
            parts.append(frame)
        rows = pd.concat(parts, ignore_index=True) if parts else _key_frame(
            {k: np.zeros(0) for k in KEY}).assign(attempt=np.zeros(0, np.int64))
        kinds = pd.DataFrame({"kind": heads[0].to_numpy(), "variant": heads[1].fillna("")
                              .to_numpy()}, index=np.arange(1, begin.sum() + 1))
        rows = rows.join(kinds, on="attempt")
        job.notes["patterns"] = {"attempts": int(begin.sum()), "rows": len(rows)}
        self.matched = np.zeros(len(rows), bool)
        index = pd.MultiIndex.from_frame(rows[KEY])
        first = ~index.duplicated()  # a transaction listed by two attempts belongs to the first
        self.first_index, self.first_row = index[first], np.flatnonzero(first)
        return rows

    def blocks(self, job: ImportJob) -> Iterator[pa.Table]:
        for b in self.trans.batches():
            cols = _convert(b)
            keep = b.keep()
            cols = _keep(cols, keep)
            n = len(cols["ts"])
            typology = group = None
            flagged = cols["is_suspicious"]
            if flagged.any():
                typology, group = self._attempts_of(cols, np.flatnonzero(flagged), n)
            yield make_rows(
                n, txn_id=b.lines[keep], ts=cols["ts"], src_key=cols["src_key"],
                dst_key=cols["dst_key"], src_bank=cols["src_bank"], dst_bank=cols["dst_bank"],
                src_country=ZZ, dst_country=ZZ, amount=cols["amount"], currency=cols["currency"],
                channel=remap(cols["reference"], CHANNEL_OF), reference=cols["reference"],
                is_suspicious=flagged, typology=typology, group=group,
                src_currency=cols["currency"], dst_currency=cols["received_currency"])
        if self.attempts is not None:
            job.notes["patterns"]["rows_not_in_transactions"] = int((~self.matched).sum())

    def _attempts_of(self, cols: dict, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Typology and case key of the laundering rows: their attempt in the patterns file (the
        first one listing the row), else "lone" (with patterns) or "unknown" (without)."""
        typology = np.full(n, None, dtype=object)
        group = np.full(n, None, dtype=object)
        if self.attempts is None:
            typology[rows] = "unknown"
            return typology, group
        pos = self.first_index.get_indexer(pd.MultiIndex.from_frame(_key_frame(cols, rows)))
        hit = pos >= 0
        pos = self.first_row[pos[hit]]
        self.matched[pos] = True
        att = self.attempts.iloc[pos]
        typology[rows[hit]] = normalise_typology(att["kind"]).to_numpy(object)
        group[rows[hit]] = ("attempt:" + att["attempt"].astype(str)).to_numpy(object)
        typology[rows[~hit]] = "lone"  # one case each (see cases)
        return typology, group

    def cases(self, susp: pd.DataFrame, job: ImportJob) -> tuple[pd.Series, dict[str, dict]]:
        params: dict[str, dict] = {}
        if self.attempts is not None:
            first = self.attempts.drop_duplicates("attempt")
            for a, kind, variant in zip(first["attempt"], first["kind"], first["variant"],
                                        strict=True):
                params[f"attempt:{a}"] = {"source": "amlworld patterns", "attempt": int(a),
                                          "kind": kind, "variant": variant}
            lone = susp["group"].isna()
            keys = susp["group"].astype(object).copy()
            keys[lone] = "lone:" + susp.loc[lone, "txn_id"].astype(str)
            return keys, params
        return component_keys(susp), params

    # writing --------------------------------------------------------------------------------------
    def export(self, ds: DatasetReader, out: Path, layout: str, progress: Progress) -> list[str]:
        stem = ds.root.name
        names = [f"{stem}_Trans.csv", f"{stem}_Patterns.txt", f"{stem}_accounts.csv"]
        bank_text = _bank_text(ds.banks["bank_id"].astype(str))
        acc = ds.accounts
        acc_text = pa.array(ds.id_text("amlworld", acc["account_id"].to_numpy(), _hex),
                            pa.string())
        acc_currency = acc["currency"].astype(str).to_numpy()
        acc_rate = pd.Series(acc_currency).map(ds.fx_rates()).fillna(1.0).to_numpy()
        acc_currency_name = pa.array(CURRENCIES.names(acc_currency), pa.string())
        acc_currency = pa.array(acc_currency, pa.string())
        trans = CsvOut(out / names[0], COLUMNS)
        laundering, done = [], 0
        for t in ds.blocks():
            src, dst = ds.positions(t.column("src_account")), ds.positions(t.column("dst_account"))
            currency = t.column("currency").combine_chunks().cast(pa.string())
            amount, base = t.column("amount").to_numpy(), t.column("amount_base").to_numpy()
            same = pc.equal(currency, acc_currency.take(dst)).to_numpy(zero_copy_only=False)
            decimals = np.where(pc.equal(acc_currency.take(dst), "BTC").to_numpy(
                zero_copy_only=False), 8, 2)
            received = np.where(same, amount, _round(base / acc_rate[dst], decimals))
            fmt = payment_words(t, CHANNEL_OF, FORMAT_OF)
            cols = [
                format_times(t.column("ts").to_numpy(), TIME_FORMAT, 60),
                _text(t, "src_bank", bank_text), acc_text.take(src),
                _text(t, "dst_bank", bank_text), acc_text.take(dst),
                pa.array(received), acc_currency_name.take(dst), pa.array(amount),
                remap(currency, CURRENCIES.to_name).cast(pa.string()), fmt,
                pa.array(t.column("is_suspicious").to_numpy().astype(np.int8)),
            ]
            trans.write(cols)
            flagged = t.column("is_suspicious").combine_chunks()
            if pc.any(flagged).as_py():
                part = pa.Table.from_arrays([c.filter(flagged).cast(pa.string()) for c in cols],
                                            names=[f"c{i}" for i in range(11)]).to_pandas()
                part["case_id"] = t.column("case_id").filter(flagged).to_numpy()
                part["typology"] = t.column("typology").filter(flagged).to_pylist()
                laundering.append(part)
            done += t.num_rows
            progress("exporting", done, ds.n_rows)
        trans.close()
        self._write_patterns(ds, out / names[1], laundering)
        self._write_accounts(ds, out / names[2], bank_text)
        return names

    def _write_patterns(self, ds: DatasetReader, path: Path, laundering: list[pd.DataFrame]
                        ) -> None:
        """One BEGIN/END block per case of laundering rows (cases of typology "lone" are left out:
        AMLworld's laundering rows in no attempt)."""
        rows = pd.concat(laundering, ignore_index=True) if laundering else pd.DataFrame()
        if rows.empty:
            path.write_text("")
            return
        rows = rows[(rows["typology"].astype(str) != "lone") & (rows["case_id"] >= 0)]
        rows = rows.reset_index(drop=True)
        rows["order"] = np.arange(len(rows))
        first = rows.drop_duplicates("case_id")[["case_id", "typology"]].reset_index(drop=True)
        params = ds.cases.set_index("case_id")["parameters"] if len(ds.cases) else pd.Series(
            dtype=object)
        variants = [_variant(params.get(c), c) for c in first["case_id"]]
        kind = first["typology"].astype(str).str.upper().str.replace(r"[_:\s]+", "-", regex=True)
        text = rows["c0"].astype(str).str.cat(
            [rows[f"c{i}"].astype(str) for i in range(1, 11)], sep=",")
        rank = pd.Series(np.arange(len(first)), index=first["case_id"])
        body = pd.DataFrame({"case": rank.reindex(rows["case_id"]).to_numpy(), "part": 1,
                             "order": rows["order"], "line": text})
        heads = pd.DataFrame({"case": np.arange(len(first)), "part": 0, "order": 0,
                              "line": f"{BEGIN} - " + kind + ": " + pd.Series(variants)})
        tails = pd.DataFrame({"case": np.arange(len(first)), "part": 2, "order": 0,
                              "line": f"{END} - " + kind})
        gaps = pd.DataFrame({"case": np.arange(len(first)), "part": 3, "order": 0, "line": ""})
        lines = pd.concat([heads, body, tails, gaps]).sort_values(["case", "part", "order"],
                                                                 kind="stable")
        path.write_text("\n".join(lines["line"]) + "\n")

    def _write_accounts(self, ds: DatasetReader, path: Path, bank_text: pd.Series) -> None:
        """The accounts file: bank name and id, account number, entity id and name."""
        acc = ds.accounts
        parties = ds.parties.set_index("party_id")
        banks = ds.banks.set_index("bank_id")
        party = acc["party_id"].to_numpy()
        number = ds.id_text("amlworld", acc["account_id"].to_numpy(), _hex)
        entity = ds.id_text("amlworld", party, _hex, what="parties")
        own = party == acc["account_id"].to_numpy()  # its own entity: written as its number
        table = pd.DataFrame({
            "Bank Name": clean_text(banks["name"].reindex(acc["bank_id"]).fillna("")),
            "Bank ID": bank_text.reindex(acc["bank_id"].astype(str)).to_numpy(),
            "Account Number": number,
            "Entity ID": np.where(own, number, entity),
            "Entity Name": clean_text(parties["name"].reindex(party).fillna("")),
        })
        out = CsvOut(path, ACCOUNT_COLUMNS)
        out.write([table[c].to_numpy() for c in ACCOUNT_COLUMNS])
        out.close()


def _text(t: pa.Table, column: str, words: pd.Series) -> pa.Array:
    """A dictionary column of the dataset through a (small) word mapping, as text."""
    return remap(t.column(column).combine_chunks(), words.to_dict()).cast(pa.string())


def _round(x: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """x rounded to a number of decimals given per element."""
    scale = 10.0 ** decimals
    return np.round(x * scale) / scale


def _hex(ids: np.ndarray) -> np.ndarray:
    """Finlab ids written like AMLworld's hexadecimal account numbers."""
    return np.char.upper(np.char.mod("%X", np.asarray(ids, np.int64))).astype(object)


def _bank_text(bank_ids: pd.Series) -> pd.Series:
    """AMLworld bank ids (zero-padded numbers as text): kept when they already are such numbers,
    else numbered 00001.. in the order of finlab's bank ids."""
    ids = bank_ids.sort_values().reset_index(drop=True)
    if ids.str.fullmatch(r"\d+").all():
        return pd.Series(ids.to_numpy(), index=ids.to_numpy())
    return pd.Series([str(i + 1).zfill(5) for i in range(len(ids))], index=ids.to_numpy())


def _variant(parameters: str | None, case_id: int) -> str:
    """The text after the colon of a BEGIN line: the case's "variant" parameter if it has one."""
    try:
        params = json.loads(parameters) if parameters else {}
    except json.JSONDecodeError:
        params = {}
    variant = params.get("variant") if isinstance(params, dict) else None
    return str(variant) if variant else f"finlab case {case_id}"
