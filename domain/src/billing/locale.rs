//! Locale-aware formatting of what a document shows: money, quantities,
//! percentages, dates and the fixed labels of a document. Pure functions, no
//! database; the renderer receives only the strings made here.
//!
//! The rules follow CLDR for the four locales we support, simplified: the
//! currency symbol sits before the amount in English and after it (with a
//! no-break space) in German and French; French groups digits with a narrow
//! no-break space (U+202F).

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::billing::DocKind;

/// No-break space (U+00A0): between an amount and a trailing symbol.
const NBSP: char = '\u{a0}';
/// Narrow no-break space (U+202F): the French digit group separator.
const NNBSP: char = '\u{202f}';

/// A locale a document can be rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum Locale {
    #[default]
    EnUs,
    EnGb,
    DeDe,
    FrFr,
}

impl Locale {
    /// Every supported locale.
    pub const ALL: [Locale; 4] = [Locale::EnUs, Locale::EnGb, Locale::DeDe, Locale::FrFr];

    /// Reads a BCP 47 / POSIX style tag: `en-US`, `en_GB`, `de-DE`, `fr-FR`,
    /// in any case; a bare language (`en`, `de`, `fr`) picks its main region;
    /// anything else is `EnUs`. Unknown regions of a known language fall back
    /// to that language (`de-AT` is `DeDe`, `en-AU` is `EnUs`).
    pub fn parse(tag: &str) -> Locale {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        // Drop an encoding or modifier (`de_DE.UTF-8`, `fr_FR@euro`).
        let tag = tag.split(['.', '@']).next().unwrap_or_default();
        let mut parts = tag.split('-');
        let lang = parts.next().unwrap_or_default();
        let region = parts.next().unwrap_or_default();
        match (lang, region) {
            ("en", "gb" | "uk") => Locale::EnGb,
            ("de", _) => Locale::DeDe,
            ("fr", _) => Locale::FrFr,
            _ => Locale::EnUs,
        }
    }

    /// The ISO 639-1 language code (what typst's `text(lang: ..)` takes).
    pub fn lang(self) -> &'static str {
        match self {
            Locale::EnUs | Locale::EnGb => "en",
            Locale::DeDe => "de",
            Locale::FrFr => "fr",
        }
    }

    /// The BCP 47 tag, e.g. `en-US`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::EnUs => "en-US",
            Locale::EnGb => "en-GB",
            Locale::DeDe => "de-DE",
            Locale::FrFr => "fr-FR",
        }
    }

    fn group_separator(self) -> char {
        match self {
            Locale::EnUs | Locale::EnGb => ',',
            Locale::DeDe => '.',
            Locale::FrFr => NNBSP,
        }
    }

    fn decimal_separator(self) -> char {
        match self {
            Locale::EnUs | Locale::EnGb => '.',
            Locale::DeDe | Locale::FrFr => ',',
        }
    }

    /// Whether the currency symbol comes before the amount.
    fn symbol_first(self) -> bool {
        matches!(self, Locale::EnUs | Locale::EnGb)
    }
}

/// Digits after the decimal point for a currency: from [`crate::kernel::money`]'s
/// table, else 3 for the dinar/rial currencies that use three, else 2.
fn currency_digits(code: &str) -> u32 {
    crate::kernel::money::minor_units(code).unwrap_or(match code {
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "PYG" | "UGX" | "XAF" | "XOF" => 0,
        _ => 2,
    })
}

/// The symbol a locale writes for a currency, or `None` to write the code.
fn currency_symbol(code: &str, locale: Locale) -> Option<&'static str> {
    Some(match (code, locale) {
        ("EUR", _) => "€",
        ("USD", Locale::EnUs | Locale::DeDe) => "$",
        ("USD", Locale::EnGb) => "US$",
        ("USD", Locale::FrFr) => "$US",
        ("GBP", Locale::FrFr) => "£GB",
        ("GBP", _) => "£",
        ("JPY", Locale::EnGb) => "JP¥",
        ("JPY", Locale::EnUs | Locale::DeDe) => "¥",
        _ => return None,
    })
}

/// Splits `value`, rounded (half away from zero) to `places` digits, into its
/// sign and the locale's digits: `(true, "1,234.50")`. Zero is never
/// negative.
fn digits(value: Decimal, places: Option<u32>, locale: Locale) -> (bool, String) {
    let mut v = match places {
        Some(dp) => {
            let mut v = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
            v.rescale(dp);
            v
        }
        None => value.normalize(),
    };
    let negative = v.is_sign_negative() && !v.is_zero();
    v.set_sign_positive(true);
    let plain = v.to_string();
    let (int, frac) = match plain.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (plain.as_str(), None),
    };
    let mut out = String::with_capacity(plain.len() + plain.len() / 3 + 2);
    let sep = locale.group_separator();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    if let Some(frac) = frac.filter(|f| !f.is_empty()) {
        out.push(locale.decimal_separator());
        out.push_str(frac);
    }
    (negative, out)
}

/// An amount of money as the locale writes it: `$1,234.56`, `-$1,234.56`,
/// `£1,234.56`, `CHF 1,234.56`, `1.234,56 €`, `1 234,56 €` (U+202F between
/// French groups; the space between amount and symbol or code is always a
/// no-break space U+00A0, so a narrow column never splits them). The number of decimals is the
/// currency's (JPY 0, KWD/BHD/OMR 3, most 2); `amount` is expected to be
/// rounded already and is only rounded (half away from zero) if it has more.
pub fn format_money(amount: Decimal, currency: &str, locale: Locale) -> String {
    let code = currency.trim().to_ascii_uppercase();
    money_with(amount, &code, currency_digits(&code), locale)
}

/// A price (unit price, hourly rate) as the locale writes it: like
/// [`format_money`], with more decimals where the price has more (up to
/// four, as prices are kept): `$0.125`, `1.234,5678 €`; see
/// [`crate::kernel::money::to_price`].
pub fn format_price(price: Decimal, currency: &str, locale: Locale) -> String {
    let code = currency.trim().to_ascii_uppercase();
    let places = currency_digits(&code).max(price.normalize().scale().min(4));
    money_with(price, &code, places, locale)
}

fn money_with(amount: Decimal, code: &str, places: u32, locale: Locale) -> String {
    let (negative, number) = digits(amount, Some(places), locale);
    let sign = if negative { "-" } else { "" };
    match (currency_symbol(code, locale), locale.symbol_first()) {
        (Some(symbol), true) => format!("{sign}{symbol}{number}"),
        (None, true) => format!("{sign}{code}{NBSP}{number}"),
        (Some(symbol), false) => format!("{sign}{number}{NBSP}{symbol}"),
        (None, false) => format!("{sign}{number}{NBSP}{code}"),
    }
}

/// A plain number such as a quantity: trailing zeros trimmed (`2`, `1.5`,
/// `1,5`), digits grouped as in [`format_money`].
pub fn format_number(value: Decimal, locale: Locale) -> String {
    let (negative, number) = digits(value, None, locale);
    if negative {
        format!("-{number}")
    } else {
        number
    }
}

/// A rate given in percent (8.25 means 8.25 %): `8.25%` in English,
/// `8,25 %` in German and French (U+00A0 before the sign). Trailing zeros
/// are trimmed (`20%`).
pub fn format_percent(rate: Decimal, locale: Locale) -> String {
    let number = format_number(rate, locale);
    match locale {
        Locale::EnUs | Locale::EnGb => format!("{number}%"),
        Locale::DeDe | Locale::FrFr => format!("{number}{NBSP}%"),
    }
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A date: `Nov 25, 2026` (en-US), `25 Nov 2026` (en-GB), `25.11.2026`
/// (de-DE), `25/11/2026` (fr-FR).
pub fn format_date(date: NaiveDate, locale: Locale) -> String {
    let (d, m, y) = (date.day(), date.month(), date.year());
    let month = MONTHS_EN[(m - 1) as usize];
    match locale {
        Locale::EnUs => format!("{month} {d}, {y}"),
        Locale::EnGb => format!("{d} {month} {y}"),
        Locale::DeDe => format!("{d:02}.{m:02}.{y}"),
        Locale::FrFr => format!("{d:02}/{m:02}/{y}"),
    }
}

/// The fixed words of every document in one language. Serialized, with
/// the words of the document's kind ([`DocLabels`]) merged in, as the
/// `labels` object of the renderer's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Labels {
    pub number: &'static str,
    pub due_date: &'static str,
    pub valid_until: &'static str,
    pub service_period: &'static str,
    pub description: &'static str,
    pub quantity: &'static str,
    pub unit_price: &'static str,
    pub tax: &'static str,
    /// After a line's tax rate when its price contains the tax.
    pub included: &'static str,
    pub amount: &'static str,
    pub subtotal: &'static str,
    pub discount: &'static str,
    pub total: &'static str,
    /// Before a tax the total contains: "includes VAT 19%".
    pub includes: &'static str,
    pub paid: &'static str,
    pub credit_applied: &'static str,
    pub balance_due: &'static str,
    pub notes: &'static str,
    pub payment_instructions: &'static str,
    pub tax_id: &'static str,
    pub page: &'static str,
    pub of: &'static str,
    pub period: &'static str,
    pub opening_balance: &'static str,
    pub closing_balance: &'static str,
    pub available_credit: &'static str,
    pub date: &'static str,
    pub debit: &'static str,
    pub credit: &'static str,
    pub balance: &'static str,
    /// A statement's entries: "Invoice INV-2026-000001", "Payment CARD-77".
    pub entry_invoice: &'static str,
    pub entry_payment: &'static str,
    pub entry_refund: &'static str,
    /// "Credit applied to INV-2026-000002".
    pub entry_credit_applied: &'static str,
    pub draft: &'static str,
    pub void: &'static str,
    pub paid_status: &'static str,
    pub overdue: &'static str,
}

/// The words that name a kind of document and its parts, so a quote never
/// says "invoice date" and a statement never says "bill to".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocLabels {
    /// The document's title: "Invoice", "Quote", "Statement".
    pub title: &'static str,
    /// The label of its date: "Invoice date", "Quote date", "Statement date".
    pub doc_date: &'static str,
    /// The heading of the client's block: "Bill to", "Prepared for", "Customer".
    pub recipient: &'static str,
}

static ENGLISH: Labels = Labels {
    number: "Number",
    due_date: "Due date",
    valid_until: "Valid until",
    service_period: "Service period",
    description: "Description",
    quantity: "Quantity",
    unit_price: "Unit price",
    tax: "Tax",
    included: "incl.",
    amount: "Amount",
    subtotal: "Subtotal",
    discount: "Discount",
    total: "Total",
    includes: "Includes",
    paid: "Paid",
    credit_applied: "Credit applied",
    balance_due: "Balance due",
    notes: "Notes",
    payment_instructions: "Payment instructions",
    tax_id: "Tax ID",
    page: "Page",
    of: "of",
    period: "Period",
    opening_balance: "Opening balance",
    closing_balance: "Closing balance",
    available_credit: "Available credit",
    date: "Date",
    debit: "Debit",
    credit: "Credit",
    balance: "Balance",
    entry_invoice: "Invoice",
    entry_payment: "Payment",
    entry_refund: "Refund",
    entry_credit_applied: "Credit applied to",
    draft: "DRAFT",
    void: "VOID",
    paid_status: "PAID",
    overdue: "OVERDUE",
};

static ENGLISH_DOCS: [DocLabels; 3] = [
    DocLabels {
        title: "Invoice",
        doc_date: "Invoice date",
        recipient: "Bill to",
    },
    DocLabels {
        title: "Quote",
        doc_date: "Quote date",
        recipient: "Prepared for",
    },
    DocLabels {
        title: "Statement",
        doc_date: "Statement date",
        recipient: "Customer",
    },
];

static GERMAN: Labels = Labels {
    number: "Nummer",
    due_date: "Fällig am",
    valid_until: "Gültig bis",
    service_period: "Leistungszeitraum",
    description: "Beschreibung",
    quantity: "Menge",
    unit_price: "Einzelpreis",
    tax: "MwSt.",
    included: "inkl.",
    amount: "Betrag",
    subtotal: "Zwischensumme",
    discount: "Rabatt",
    total: "Gesamtbetrag",
    includes: "Darin enthalten",
    paid: "Bezahlt",
    credit_applied: "Guthaben verrechnet",
    balance_due: "Offener Betrag",
    notes: "Anmerkungen",
    payment_instructions: "Zahlungsinformationen",
    tax_id: "USt-IdNr.",
    page: "Seite",
    of: "von",
    period: "Zeitraum",
    opening_balance: "Anfangssaldo",
    closing_balance: "Endsaldo",
    available_credit: "Verfügbares Guthaben",
    date: "Datum",
    debit: "Soll",
    credit: "Haben",
    balance: "Saldo",
    entry_invoice: "Rechnung",
    entry_payment: "Zahlung",
    entry_refund: "Erstattung",
    entry_credit_applied: "Guthaben verrechnet mit",
    draft: "ENTWURF",
    void: "STORNIERT",
    paid_status: "BEZAHLT",
    overdue: "ÜBERFÄLLIG",
};

static GERMAN_DOCS: [DocLabels; 3] = [
    DocLabels {
        title: "Rechnung",
        doc_date: "Rechnungsdatum",
        recipient: "Rechnungsempfänger",
    },
    DocLabels {
        title: "Angebot",
        doc_date: "Angebotsdatum",
        recipient: "Angebot für",
    },
    DocLabels {
        title: "Kontoauszug",
        doc_date: "Auszugsdatum",
        recipient: "Kunde",
    },
];

static FRENCH: Labels = Labels {
    number: "Numéro",
    due_date: "Date d’échéance",
    valid_until: "Valable jusqu’au",
    service_period: "Période de prestation",
    description: "Désignation",
    quantity: "Quantité",
    unit_price: "Prix unitaire",
    tax: "TVA",
    included: "incl.",
    amount: "Montant",
    subtotal: "Sous-total",
    discount: "Remise",
    total: "Total",
    includes: "Dont",
    paid: "Payé",
    credit_applied: "Avoir imputé",
    balance_due: "Solde dû",
    notes: "Remarques",
    payment_instructions: "Modalités de paiement",
    tax_id: "N° TVA",
    page: "Page",
    of: "sur",
    period: "Période",
    opening_balance: "Solde d’ouverture",
    closing_balance: "Solde de clôture",
    available_credit: "Avoir disponible",
    date: "Date",
    debit: "Débit",
    credit: "Crédit",
    balance: "Solde",
    entry_invoice: "Facture",
    entry_payment: "Paiement",
    entry_refund: "Remboursement",
    entry_credit_applied: "Avoir imputé sur",
    draft: "BROUILLON",
    void: "ANNULÉE",
    paid_status: "PAYÉE",
    overdue: "EN RETARD",
};

static FRENCH_DOCS: [DocLabels; 3] = [
    DocLabels {
        title: "Facture",
        doc_date: "Date de facture",
        recipient: "Facturé à",
    },
    DocLabels {
        title: "Devis",
        doc_date: "Date du devis",
        recipient: "Devis établi pour",
    },
    DocLabels {
        title: "Relevé de compte",
        doc_date: "Date du relevé",
        recipient: "Client",
    },
];

/// The labels of a locale: English for en-US and en-GB, German, French.
pub fn labels(locale: Locale) -> &'static Labels {
    match locale {
        Locale::EnUs | Locale::EnGb => &ENGLISH,
        Locale::DeDe => &GERMAN,
        Locale::FrFr => &FRENCH,
    }
}

/// The words of one kind of document in a locale.
pub fn doc_labels(locale: Locale, kind: DocKind) -> &'static DocLabels {
    let docs = match locale {
        Locale::EnUs | Locale::EnGb => &ENGLISH_DOCS,
        Locale::DeDe => &GERMAN_DOCS,
        Locale::FrFr => &FRENCH_DOCS,
    };
    match kind {
        DocKind::Invoice => &docs[0],
        DocKind::Quote => &docs[1],
        DocKind::Statement => &docs[2],
    }
}

/// The `labels` object a document's template reads: the locale's words
/// with those of `kind` merged in.
pub fn labels_json(locale: Locale, kind: DocKind) -> serde_json::Value {
    let mut out = serde_json::to_value(labels(locale)).unwrap_or_default();
    if let (Some(out), serde_json::Value::Object(kind)) = (
        out.as_object_mut(),
        serde_json::to_value(doc_labels(locale, kind)).unwrap_or_default(),
    ) {
        out.extend(kind);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const US: Locale = Locale::EnUs;
    const GB: Locale = Locale::EnGb;
    const DE: Locale = Locale::DeDe;
    const FR: Locale = Locale::FrFr;

    #[test]
    fn parse_tags() {
        for (tag, want) in [
            ("en-US", US),
            ("en_us", US),
            ("EN-GB", GB),
            ("en_GB", GB),
            ("en-gb", GB),
            ("de-DE", DE),
            ("de_de", DE),
            ("DE", DE),
            ("de", DE),
            ("de-AT", DE),
            ("de_DE.UTF-8", DE),
            ("fr-FR", FR),
            ("fr", FR),
            ("fr_CA", FR),
            ("en", US),
            ("en-AU", US),
            ("", US),
            ("xx-YY", US),
            ("klingon", US),
            (" fr-FR ", FR),
        ] {
            assert_eq!(Locale::parse(tag), want, "{tag:?}");
        }
        assert_eq!(US.lang(), "en");
        assert_eq!(GB.lang(), "en");
        assert_eq!(DE.lang(), "de");
        assert_eq!(FR.lang(), "fr");
        for l in Locale::ALL {
            assert_eq!(Locale::parse(l.tag()), l);
        }
    }

    #[test]
    fn money_en_us() {
        assert_eq!(format_money(dec!(1234.56), "USD", US), "$1,234.56");
        assert_eq!(format_money(dec!(-1234.56), "USD", US), "-$1,234.56");
        assert_eq!(format_money(dec!(0), "USD", US), "$0.00");
        assert_eq!(format_money(dec!(-0.00), "USD", US), "$0.00");
        assert_eq!(format_money(dec!(1234567.89), "USD", US), "$1,234,567.89");
        assert_eq!(format_money(dec!(999.5), "usd", US), "$999.50");
        assert_eq!(format_money(dec!(100), "USD", US), "$100.00");
        assert_eq!(format_money(dec!(1000), "USD", US), "$1,000.00");
        assert_eq!(format_money(dec!(1234.56), "EUR", US), "€1,234.56");
        assert_eq!(format_money(dec!(1234567), "JPY", US), "¥1,234,567");
        assert_eq!(
            format_money(dec!(-1234.567), "KWD", US),
            "-KWD\u{a0}1,234.567"
        );
        assert_eq!(format_money(dec!(1234.56), "CHF", US), "CHF\u{a0}1,234.56");
        assert_eq!(format_money(dec!(-5), "CHF", US), "-CHF\u{a0}5.00");
    }

    #[test]
    fn money_en_gb() {
        assert_eq!(format_money(dec!(1234.56), "GBP", GB), "£1,234.56");
        assert_eq!(format_money(dec!(-1234.56), "GBP", GB), "-£1,234.56");
        assert_eq!(format_money(dec!(0), "GBP", GB), "£0.00");
        assert_eq!(format_money(dec!(1234567.89), "GBP", GB), "£1,234,567.89");
        assert_eq!(format_money(dec!(1234.56), "EUR", GB), "€1,234.56");
        assert_eq!(format_money(dec!(1234.56), "CHF", GB), "CHF\u{a0}1,234.56");
        assert_eq!(format_money(dec!(1234.56), "USD", GB), "US$1,234.56");
        assert_eq!(format_money(dec!(1234), "JPY", GB), "JP¥1,234");
        assert_eq!(format_money(dec!(1.5), "BHD", GB), "BHD\u{a0}1.500");
    }

    #[test]
    fn money_de_de() {
        assert_eq!(format_money(dec!(1234.56), "EUR", DE), "1.234,56\u{a0}€");
        assert_eq!(format_money(dec!(-1234.56), "EUR", DE), "-1.234,56\u{a0}€");
        assert_eq!(format_money(dec!(0), "EUR", DE), "0,00\u{a0}€");
        assert_eq!(
            format_money(dec!(1234567.89), "EUR", DE),
            "1.234.567,89\u{a0}€"
        );
        assert_eq!(format_money(dec!(1234567), "JPY", DE), "1.234.567\u{a0}¥");
        assert_eq!(
            format_money(dec!(1234.567), "KWD", DE),
            "1.234,567\u{a0}KWD"
        );
        assert_eq!(format_money(dec!(1234.56), "CHF", DE), "1.234,56\u{a0}CHF");
        assert_eq!(format_money(dec!(12.3), "USD", DE), "12,30\u{a0}$");
    }

    #[test]
    fn money_fr_fr() {
        assert_eq!(
            format_money(dec!(1234.56), "EUR", FR),
            "1\u{202f}234,56\u{a0}€"
        );
        assert_eq!(
            format_money(dec!(-1234.56), "EUR", FR),
            "-1\u{202f}234,56\u{a0}€"
        );
        assert_eq!(format_money(dec!(0), "EUR", FR), "0,00\u{a0}€");
        assert_eq!(
            format_money(dec!(1234567.89), "EUR", FR),
            "1\u{202f}234\u{202f}567,89\u{a0}€"
        );
        assert_eq!(
            format_money(dec!(-1234567), "JPY", FR),
            "-1\u{202f}234\u{202f}567\u{a0}JPY"
        );
        assert_eq!(format_money(dec!(0.125), "OMR", FR), "0,125\u{a0}OMR");
        assert_eq!(format_money(dec!(999), "EUR", FR), "999,00\u{a0}€");
        assert_eq!(format_money(dec!(1), "USD", FR), "1,00\u{a0}$US");
    }

    #[test]
    fn money_rounds_extra_places_half_away_from_zero() {
        assert_eq!(format_money(dec!(1.005), "USD", US), "$1.01");
        assert_eq!(format_money(dec!(-1.005), "USD", US), "-$1.01");
        assert_eq!(format_money(dec!(1234.5), "JPY", US), "¥1,235");
        assert_eq!(format_money(dec!(-0.001), "USD", US), "$0.00");
    }

    #[test]
    fn prices_keep_their_extra_digits() {
        assert_eq!(format_price(dec!(95), "EUR", DE), "95,00\u{a0}€");
        assert_eq!(format_price(dec!(0.125), "USD", US), "$0.125");
        assert_eq!(
            format_price(dec!(1234.5678), "EUR", DE),
            "1.234,5678\u{a0}€"
        );
        assert_eq!(format_price(dec!(120.5000), "GBP", GB), "£120.50");
        assert_eq!(format_price(dec!(333.5), "JPY", US), "¥333.5");
        assert_eq!(format_price(dec!(1001), "JPY", US), "¥1,001");
    }

    #[test]
    fn numbers() {
        assert_eq!(format_number(dec!(2), US), "2");
        assert_eq!(format_number(dec!(2.000), US), "2");
        assert_eq!(format_number(dec!(1.50), US), "1.5");
        assert_eq!(format_number(dec!(1.50), GB), "1.5");
        assert_eq!(format_number(dec!(1.50), DE), "1,5");
        assert_eq!(format_number(dec!(1.50), FR), "1,5");
        assert_eq!(format_number(dec!(0), US), "0");
        assert_eq!(format_number(dec!(0.000), DE), "0");
        assert_eq!(format_number(dec!(-3.25), US), "-3.25");
        assert_eq!(format_number(dec!(1234567.89), US), "1,234,567.89");
        assert_eq!(format_number(dec!(1234567.89), DE), "1.234.567,89");
        assert_eq!(
            format_number(dec!(1234567.89), FR),
            "1\u{202f}234\u{202f}567,89"
        );
        assert_eq!(format_number(dec!(1000), FR), "1\u{202f}000");
        assert_eq!(format_number(dec!(0.0005), US), "0.0005");
    }

    #[test]
    fn percents() {
        assert_eq!(format_percent(dec!(8.25), US), "8.25%");
        assert_eq!(format_percent(dec!(8.25), GB), "8.25%");
        assert_eq!(format_percent(dec!(8.25), DE), "8,25\u{a0}%");
        assert_eq!(format_percent(dec!(8.25), FR), "8,25\u{a0}%");
        assert_eq!(format_percent(dec!(20.00), US), "20%");
        assert_eq!(format_percent(dec!(0), DE), "0\u{a0}%");
        assert_eq!(format_percent(dec!(-5), US), "-5%");
    }

    #[test]
    fn dates() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(format_date(d, US), "Nov 25, 2026");
        assert_eq!(format_date(d, GB), "25 Nov 2026");
        assert_eq!(format_date(d, DE), "25.11.2026");
        assert_eq!(format_date(d, FR), "25/11/2026");
        let d = NaiveDate::from_ymd_opt(2027, 1, 3).unwrap();
        assert_eq!(format_date(d, US), "Jan 3, 2027");
        assert_eq!(format_date(d, GB), "3 Jan 2027");
        assert_eq!(format_date(d, DE), "03.01.2027");
        assert_eq!(format_date(d, FR), "03/01/2027");
    }

    #[test]
    fn labels_per_language() {
        assert_eq!(labels(US).entry_invoice, "Invoice");
        assert!(std::ptr::eq(labels(US), labels(GB)));
        assert_eq!(labels(DE).entry_invoice, "Rechnung");
        assert_eq!(labels(DE).page, "Seite");
        assert_eq!(labels(FR).entry_invoice, "Facture");
        assert_eq!(labels(FR).of, "sur");
        let json = serde_json::to_value(labels(DE)).unwrap();
        assert_eq!(json["balance_due"], "Offener Betrag");
        // No label is left empty in any language.
        for l in Locale::ALL {
            for kind in [DocKind::Invoice, DocKind::Quote, DocKind::Statement] {
                let json = labels_json(l, kind);
                let words = json.as_object().unwrap();
                assert_eq!(words.len(), 41, "{l:?} {kind:?}");
                for (k, v) in words {
                    assert!(!v.as_str().unwrap().is_empty(), "{l:?} {kind:?} {k}");
                }
            }
        }
    }

    /// A quote or a statement never names itself with an invoice's words:
    /// each kind's title, date label and recipient heading are its own, in
    /// every locale.
    #[test]
    fn each_kind_of_document_has_its_own_words() {
        for l in Locale::ALL {
            let invoice = doc_labels(l, DocKind::Invoice);
            for kind in [DocKind::Quote, DocKind::Statement] {
                let other = doc_labels(l, kind);
                for (mine, theirs) in [
                    (other.title, invoice.title),
                    (other.doc_date, invoice.doc_date),
                    (other.recipient, invoice.recipient),
                ] {
                    assert!(
                        !mine.to_lowercase().contains(&theirs.to_lowercase()),
                        "{l:?} {kind:?}: {mine:?} says {theirs:?}"
                    );
                }
            }
        }
        assert_eq!(doc_labels(DE, DocKind::Quote).doc_date, "Angebotsdatum");
        assert_eq!(doc_labels(DE, DocKind::Statement).doc_date, "Auszugsdatum");
        assert_eq!(
            doc_labels(DE, DocKind::Invoice).recipient,
            "Rechnungsempfänger"
        );
    }
}
