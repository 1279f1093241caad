"""SAML-D (Oztas et al. 2023): one CSV of transfers with separate Date and Time columns, sender and
receiver accounts with their banks' locations, payment and received currencies (full names), the
payment type, Is_laundering and a Laundering_type for every row (normal rows too: "Normal_Fan_Out").

Quirks handled: Date and Time are joined into one timestamp; locations ("UK", "UAE") become ISO
country codes and currencies ("UK pounds") ISO codes; each location is one bank (SAML-D has none).
Typologies are normalised ("Layered_Fan_In" -> layered_fan_in); normal rows keep theirs as labels
of non-suspicious rows. Laundering rows of one typology that share accounts form one case.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from finlab.interop.columns import normalise_typology, remap
from finlab.interop.exporter import CsvOut, DatasetReader, clean_text, format_times, payment_words
from finlab.interop.formats import FORMATS, Format, FormatWords, Progress, make_rows
from finlab.interop.importer import ImportJob

COLUMNS = ["Time", "Date", "Sender_account", "Receiver_account", "Amount", "Payment_currency",
           "Received_currency", "Sender_bank_location", "Receiver_bank_location", "Payment_type",
           "Is_laundering", "Laundering_type"]
CURRENCIES = FormatWords({
    "UK pounds": "GBP", "Euro": "EUR", "US dollar": "USD", "Yen": "JPY", "Indian rupee": "INR",
    "Swiss franc": "CHF", "Dirham": "AED", "Mexican Peso": "MXN", "Turkish lira": "TRY",
    "Moroccan dirham": "MAD", "Naira": "NGN", "Albanian lek": "ALL", "Pakistani rupee": "PKR",
})
LOCATIONS = FormatWords({
    "UK": "GB", "USA": "US", "UAE": "AE", "Italy": "IT", "Japan": "JP", "Austria": "AT",
    "France": "FR", "Switzerland": "CH", "India": "IN", "Turkey": "TR", "Nigeria": "NG",
    "Germany": "DE", "Morocco": "MA", "Mexico": "MX", "Netherlands": "NL", "Spain": "ES",
    "Pakistan": "PK", "Albania": "AL",
})
CHANNEL_OF = {"Credit card": "card", "Debit card": "card", "ACH": "transfer", "Cheque": "transfer",
              "Cross-border": "remittance", "Cash Withdrawal": "cash", "Cash Deposit": "cash"}
TYPE_OF = {"card": "Debit card", "transfer": "ACH", "remittance": "Cross-border",
           "p2p_app": "ACH", "crypto": "ACH"}  # cash: withdrawal or deposit by direction
#: SAML-D's own spelling of its typologies, to write them back as they were
TYPOLOGIES = [
    "Normal_Small_Fan_Out", "Normal_Fan_Out", "Normal_Fan_In", "Normal_Group", "Normal_Periodical",
    "Normal_Cash_Withdrawal", "Normal_Cash_Deposits", "Normal_Mutual", "Normal_Plus_Mutual",
    "Normal_Foward", "Normal_single_large", "Normal_Deposit_Plus_Withdrawal", "Layered_Fan_Out",
    "Layered_Fan_In", "Fan_Out", "Fan_In", "Smurfing", "Structuring", "Cycle", "Bipartite",
    "Stacked Bipartite", "Scatter-Gather", "Gather-Scatter", "Deposit-Send", "Cash_Withdrawal",
    "Behavioural_Change_1", "Behavioural_Change_2", "Single_large", "Over-Invoicing",
]
NORMAL = "Normal"


@FORMATS.register("samld")
class SAMLD(Format):
    """The SAML-D transactions file."""

    title = "SAML-D"
    carries = frozenset({"country", "currency", "channel", "typology"})
    channel_back: ClassVar[dict[str, str]] = {
        "card": "card", "transfer": "transfer", "remittance": "remittance",
        "p2p_app": "transfer", "crypto": "transfer", "cash": "cash"}
    missing_fields = ("banks", "transactions.src_bank", "transactions.dst_bank",
                      "transactions.amount_base", "transactions.reference", "accounts.opened_at",
                      "countries.utc_offset", "countries.risk")

    def open(self, job: ImportJob) -> None:
        path = job.the_file("time,date,", "SAML-D file (its header starts with Time,Date,"
                                          "Sender_account)")
        self.file = job.csv(path, COLUMNS, what="a SAML-D file", dictionary=[
            "Time", "Date", "Payment_currency", "Received_currency", "Sender_bank_location",
            "Receiver_bank_location", "Payment_type", "Is_laundering", "Laundering_type"])
        job.country_names.update(LOCATIONS.to_name)
        job.country_names.update({v: k for k, v in LOCATIONS.to_code.items()})
        job.notes["reference_holds"] = "Payment_type"
        job.notes["banks"] = "one per location (SAML-D names no banks)"

    def blocks(self, job: ImportJob) -> Iterator[pa.Table]:
        for b in self.file.batches():
            day = b.time("Date", "%Y-%m-%d", "2022-10-07")
            clock = np.mod(b.time("Time", "%H:%M:%S", "10:35:19"), 86400)
            src, dst = b.text("Sender_account"), b.text("Receiver_account")
            amount = b.number("Amount", positive=True)
            currency = b.currency("Payment_currency", CURRENCIES.to_code)
            received = b.currency("Received_currency", CURRENCIES.to_code)
            src_loc, dst_loc = b.text("Sender_bank_location"), b.text("Receiver_bank_location")
            kind = b.choice("Payment_type", {w: w for w in CHANNEL_OF})
            laundering = b.flag01("Is_laundering")
            typology = b.text("Laundering_type")
            keep = b.keep()
            mask = pa.array(keep)
            src_country, dst_country = (remap(loc.filter(mask), LOCATIONS.to_code)
                                        for loc in (src_loc, dst_loc))
            kind = kind.filter(mask)
            yield make_rows(
                int(keep.sum()), txn_id=b.lines[keep], ts=(day + clock)[keep],
                src_key=src.filter(mask), dst_key=dst.filter(mask),
                src_bank=_bank(src_country), dst_bank=_bank(dst_country),
                src_country=src_country, dst_country=dst_country, amount=amount[keep],
                currency=currency.filter(mask), channel=remap(kind, CHANNEL_OF), reference=kind,
                is_suspicious=laundering[keep], typology=_typologies(typology.filter(mask)),
                src_currency=currency.filter(mask), dst_currency=received.filter(mask))

    def export(self, ds: DatasetReader, out: Path, layout: str, progress: Progress) -> list[str]:
        name = f"{ds.root.name}_SAML-D.csv"
        acc = ds.accounts
        text = pa.array(ds.id_text("samld", acc["account_id"].to_numpy(),
                                   lambda ids: np.asarray(ids).astype(str)), pa.string())
        names = ds.countries.set_index("country")["name"].astype(str)
        where = {c: LOCATIONS.to_name.get(c, clean_text([names.get(c, c)])[0])
                 for c in ds.countries["country"].astype(str)}
        currency_name = pa.array(CURRENCIES.names(acc["currency"].astype(str).to_numpy()),
                                 pa.string())
        cash_account = pa.array(acc["kind"].astype(str).to_numpy() == "cash")
        spelling = dict(zip(normalise_typology(pd.Series(TYPOLOGIES)), TYPOLOGIES, strict=True))
        f = CsvOut(out / name, COLUMNS)
        done = 0
        for t in ds.blocks():
            src, dst = ds.positions(t.column("src_account")), ds.positions(t.column("dst_account"))
            ts = t.column("ts").to_numpy()
            kind = payment_words(t, CHANNEL_OF, TYPE_OF, ("Cash Withdrawal", "Cash Deposit"),
                                 cash_account.take(dst))
            typology = remap(t.column("typology").fill_null(NORMAL), spelling)
            f.write([
                format_times(ts % 86400, "%H:%M:%S"), format_times(ts, "%Y-%m-%d", 86400),
                text.take(src), text.take(dst), t.column("amount"),
                remap(t.column("currency").combine_chunks(), CURRENCIES.to_name).cast(pa.string()),
                currency_name.take(dst),
                remap(t.column("src_country").combine_chunks(), where).cast(pa.string()),
                remap(t.column("dst_country").combine_chunks(), where).cast(pa.string()),
                kind, pa.array(t.column("is_suspicious").to_numpy().astype(np.int8)),
                typology.cast(pa.string()),
            ])
            done += t.num_rows
            progress("exporting", done, ds.n_rows)
        f.close()
        return [name]


def _bank(country: pa.Array) -> pa.Array:
    """SAML-D's one bank per location."""
    return remap(country, {c: f"SAMLD-{c}" for c in country.dictionary.to_pylist()})


def _typologies(words: pa.Array) -> pa.DictionaryArray:
    """Normalised typology names; a bare "Normal" (no pattern) becomes null."""
    norm = normalise_typology(pd.Series(words.dictionary.to_pylist(), dtype=object))
    norm = [None if (v is pd.NA or v in ("", "normal")) else v for v in norm]
    mapped = pa.array([v for v in norm], pa.string())
    out = pa.DictionaryArray.from_arrays(words.indices, mapped)
    return out.cast(pa.string()).dictionary_encode()
