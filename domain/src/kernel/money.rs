//! Money: currencies, the rounding rule, discounts, taxes and document
//! totals. Amounts are `rust_decimal::Decimal`, never floats.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::kernel::validation::ValidationErrors;

/// ISO 4217 codes we accept, with their minor units (digits after the point).
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("RON", 2),
    ("RSD", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// The minor units of `code`, or `None` for a currency we do not know.
pub fn minor_units(code: &str) -> Option<u32> {
    CURRENCIES.iter().find(|(c, _)| *c == code).map(|(_, u)| *u)
}

// ---- hourly rates ----

/// The highest hourly rate accepted.
const MAX_RATE: i64 = 1_000_000;

/// Validates an hourly rate: 0 to 1,000,000 with at most four decimals.
pub fn validate_rate(
    v: &mut ValidationErrors,
    field: &str,
    rate: Option<Decimal>,
) -> Option<Decimal> {
    let r = rate?;
    if r.is_sign_negative() || r.scale() > 4 || r > Decimal::from(MAX_RATE) {
        v.add(
            field,
            "invalid",
            format!("{field} must be an amount from 0 to {MAX_RATE} with at most 4 decimals"),
        );
    }
    Some(r.normalize())
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_and_unknown() {
        assert_eq!(super::minor_units("EUR"), Some(2));
        assert_eq!(super::minor_units("JPY"), Some(0));
        assert_eq!(super::minor_units("eur"), None);
        assert_eq!(super::minor_units("XXX"), None);
    }
}

// ---- column limits -------------------------------------------------------------

/// A `NUMERIC(precision, scale)` column: the amounts it holds. Inputs and
/// computed amounts are checked against their column before they are
/// written, so an amount too large is a 422 naming the field, not a
/// database error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numeric {
    pub precision: u32,
    pub scale: u32,
}

impl Numeric {
    /// The largest magnitude the column holds, e.g. 99,999,999,999,999.9999
    /// for `NUMERIC(18, 4)`.
    pub fn max(self) -> Decimal {
        Decimal::from_i128_with_scale(10i128.pow(self.precision) - 1, self.scale)
    }

    /// Whether `x`, rounded to the column's scale as PostgreSQL rounds it,
    /// fits.
    pub fn holds(self, x: Decimal) -> bool {
        round_money(x, self.scale).abs() <= self.max()
    }
}

/// Invoice, quote and payment amounts, line quantities and prices, product
/// prices: `NUMERIC(18, 4)`, below 10^14.
pub const AMOUNT: Numeric = Numeric {
    precision: 18,
    scale: 4,
};

/// An asset's purchase cost: `NUMERIC(16, 4)`, below 10^12.
pub const ASSET_COST: Numeric = Numeric {
    precision: 16,
    scale: 4,
};

/// At most this many taxes on one line (or one product): with compound
/// taxes each may double what the next is charged on.
pub const MAX_TAXES_PER_LINE: usize = 10;

/// Adds `field` to `v` unless `x` fits `column`.
pub fn check_fits(v: &mut ValidationErrors, field: &str, x: Decimal, column: Numeric) {
    if !column.holds(x) {
        v.add(
            field,
            "too_large",
            format!("{field} must be at most {} in magnitude", column.max()),
        );
    }
}

/// Adds an error to `v` for each computed amount of `t` that [`AMOUNT`]
/// does not hold: a line's on `lines[i].quantity` (quantity × price is
/// what makes it), the document's on `lines`.
pub fn check_totals(v: &mut ValidationErrors, t: &Totals) {
    for (i, l) in t.lines.iter().enumerate() {
        let fits = [l.gross, l.discount, l.net, l.total]
            .iter()
            .chain(&l.taxes)
            .chain(std::iter::once(&l.taxes.iter().sum::<Decimal>()))
            .all(|x| AMOUNT.holds(*x));
        if !fits {
            let field = format!("lines[{i}].quantity");
            v.add(
                &field,
                "too_large",
                format!(
                    "quantity × unit_price of line {i} (with its taxes) must stay at most {}",
                    AMOUNT.max()
                ),
            );
        }
    }
    if [t.subtotal, t.discount, t.tax, t.total]
        .iter()
        .any(|x| !AMOUNT.holds(*x))
    {
        v.add(
            "lines",
            "too_large",
            format!("the document's totals must stay at most {}", AMOUNT.max()),
        );
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn columns_hold_what_postgres_holds() {
        assert_eq!(AMOUNT.max(), dec!(99999999999999.9999));
        assert_eq!(ASSET_COST.max(), dec!(999999999999.9999));
        assert!(AMOUNT.holds(dec!(99999999999999.9999)));
        assert!(AMOUNT.holds(dec!(-99999999999999.99994)));
        // Rounds up to 10^14 when stored.
        assert!(!AMOUNT.holds(dec!(99999999999999.99995)));
        assert!(!AMOUNT.holds(dec!(1000000000000000)));
        assert!(!ASSET_COST.holds(dec!(1000000000000)));
    }

    #[test]
    fn totals_beyond_the_columns_name_the_line() {
        let line = LineInput {
            quantity: dec!(1000000),
            unit_price: dec!(1000000000),
            discount: None,
            taxes: vec![],
        };
        let small = LineInput {
            quantity: dec!(1),
            unit_price: dec!(1),
            discount: None,
            taxes: vec![],
        };
        let mut v = ValidationErrors::new();
        check_totals(&mut v, &totals(&[small.clone(), line], None, 2));
        let fields: Vec<&str> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["lines[1].quantity", "lines"]);
        let mut v = ValidationErrors::new();
        check_totals(&mut v, &totals(&[small], None, 2));
        assert!(v.is_empty());
    }
}

// ---- amounts -------------------------------------------------------------------

/// THE rounding rule: to the currency's minor unit, half away from zero.
/// Every amount a document shows goes through here, line by line.
pub fn round_money(x: Decimal, minor: u32) -> Decimal {
    x.round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero)
}

/// An amount as documents and the API show it: rounded by [`round_money`]
/// and written with exactly the currency's digits ("20.00", "1001").
pub fn to_minor(x: Decimal, minor: u32) -> Decimal {
    let mut r = round_money(x, minor);
    r.rescale(minor);
    r
}

/// A price (a unit price, an hourly rate) as documents and the API show it:
/// at least the currency's digits, more only where the price has more (a
/// price keeps up to four decimals, and quantity × price is rounded only
/// after multiplying): "95.00", "0.125", "1001" (JPY). Amounts (totals,
/// line amounts, taxes, payments) are [`to_minor`], prices this: the one
/// rule for money in JSON and on documents.
pub fn to_price(x: Decimal, minor: u32) -> Decimal {
    let mut r = x.normalize();
    r.rescale(r.scale().max(minor));
    r
}

/// A discount on a line or an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Discount {
    /// A percentage, 0 to 100.
    Percent(Decimal),
    /// A fixed amount, at most what it discounts.
    Amount(Decimal),
}

impl Discount {
    /// The discount on `base`, rounded, never more than `base`.
    pub fn of(self, base: Decimal, minor: u32) -> Decimal {
        let raw = match self {
            Discount::Percent(p) => base * p / Decimal::ONE_HUNDRED,
            Discount::Amount(a) => a,
        };
        round_money(raw, minor).min(base).max(Decimal::ZERO)
    }
}

/// A tax as applied to a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tax {
    pub name: String,
    /// Percent, e.g. 19 for 19 %.
    pub percent: Decimal,
    /// The price already contains this tax.
    pub inclusive: bool,
    /// Charged on the net plus the taxes before it (exclusive taxes only).
    pub compound: bool,
}

/// One line, as entered.
#[derive(Debug, Clone)]
pub struct LineInput {
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount: Option<Discount>,
    pub taxes: Vec<Tax>,
}

/// One line, computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAmounts {
    /// quantity × unit price, rounded.
    pub gross: Decimal,
    /// The line's own discount plus its share of the invoice discount.
    pub discount: Decimal,
    /// What is taxed: after discounts, without inclusive taxes.
    pub net: Decimal,
    /// Each tax of the line, in the order given.
    pub taxes: Vec<Decimal>,
    /// net + taxes.
    pub total: Decimal,
}

/// A whole document's amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub lines: Vec<LineAmounts>,
    /// Sum of the lines' nets.
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

/// Computes a document's amounts, written down once:
///
/// 1. Per line: gross = quantity × unit price, rounded; the line's discount
///    is taken off, rounded.
/// 2. An invoice-level discount is shared out over the lines in proportion to
///    their discounted amounts, rounded per line, the last cent going to the
///    largest line so the shares add up exactly.
/// 3. Per line, taxes: inclusive taxes are taken out of the discounted amount
///    (net = amount ÷ (1 + Σ inclusive %), rounded; each inclusive tax its
///    share of the difference, the remainder cent to the last); exclusive
///    taxes are then added on the net, in order, a compound one on the net
///    plus the taxes before it; each rounded.
/// 4. Totals are sums of the rounded line amounts.
pub fn totals(lines: &[LineInput], invoice_discount: Option<Discount>, minor: u32) -> Totals {
    let gross: Vec<Decimal> = lines
        .iter()
        .map(|l| round_money(l.quantity * l.unit_price, minor))
        .collect();
    let own: Vec<Decimal> = lines
        .iter()
        .zip(&gross)
        .map(|(l, g)| l.discount.map(|d| d.of(*g, minor)).unwrap_or_default())
        .collect();
    let after_own: Vec<Decimal> = gross.iter().zip(&own).map(|(g, d)| g - d).collect();
    let shares = share_out(
        invoice_discount
            .map(|d| d.of(after_own.iter().sum(), minor))
            .unwrap_or_default(),
        &after_own,
        minor,
    );
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let amount = after_own[i] - shares[i];
        let (net, taxes) = taxes_of(amount, &l.taxes, minor);
        let total = net + taxes.iter().sum::<Decimal>();
        out.push(LineAmounts {
            gross: gross[i],
            discount: own[i] + shares[i],
            net,
            taxes,
            total,
        });
    }
    Totals {
        subtotal: out.iter().map(|l| l.net).sum(),
        discount: out.iter().map(|l| l.discount).sum(),
        tax: out.iter().map(|l| l.taxes.iter().sum::<Decimal>()).sum(),
        total: out.iter().map(|l| l.total).sum(),
        lines: out,
    }
}

/// Shares `amount` over `weights` proportionally, rounded, adding up exactly.
fn share_out(amount: Decimal, weights: &[Decimal], minor: u32) -> Vec<Decimal> {
    let sum: Decimal = weights.iter().sum();
    if amount.is_zero() || sum.is_zero() {
        return vec![Decimal::ZERO; weights.len()];
    }
    let mut shares: Vec<Decimal> = weights
        .iter()
        .map(|w| round_money(amount * w / sum, minor))
        .collect();
    let diff = amount - shares.iter().sum::<Decimal>();
    if !diff.is_zero()
        && let Some((i, _)) = weights.iter().enumerate().max_by_key(|(_, w)| **w)
    {
        shares[i] += diff;
    }
    shares
}

/// Net and each tax of a line whose discounted amount is `amount`.
fn taxes_of(amount: Decimal, taxes: &[Tax], minor: u32) -> (Decimal, Vec<Decimal>) {
    let inclusive_pct: Decimal = taxes
        .iter()
        .filter(|t| t.inclusive)
        .map(|t| t.percent)
        .sum();
    let net = round_money(
        amount * Decimal::ONE_HUNDRED / (Decimal::ONE_HUNDRED + inclusive_pct),
        minor,
    );
    let inclusive_total = amount - net;
    let mut out = vec![Decimal::ZERO; taxes.len()];
    // Inclusive taxes share what was taken out, by their rates.
    let inclusive: Vec<usize> = (0..taxes.len()).filter(|i| taxes[*i].inclusive).collect();
    let weights: Vec<Decimal> = inclusive.iter().map(|i| taxes[*i].percent).collect();
    for (share, i) in share_out(inclusive_total, &weights, minor)
        .into_iter()
        .zip(&inclusive)
    {
        out[*i] = share;
    }
    // Exclusive taxes on the net, compound ones on what came before too.
    let mut running = net;
    for (i, t) in taxes.iter().enumerate().filter(|(_, t)| !t.inclusive) {
        let base = if t.compound { running } else { net };
        let tax = round_money(base * t.percent / Decimal::ONE_HUNDRED, minor);
        out[i] = tax;
        running += tax;
    }
    (net, out)
}

#[cfg(test)]
mod amount_tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn tax(percent: Decimal, inclusive: bool, compound: bool) -> Tax {
        Tax {
            name: format!("{percent}%"),
            percent,
            inclusive,
            compound,
        }
    }

    fn line(q: Decimal, p: Decimal, discount: Option<Discount>, taxes: Vec<Tax>) -> LineInput {
        LineInput {
            quantity: q,
            unit_price: p,
            discount,
            taxes,
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_money(dec!(2.345), 2), dec!(2.35));
        assert_eq!(round_money(dec!(2.335), 2), dec!(2.34));
        assert_eq!(round_money(dec!(-2.345), 2), dec!(-2.35));
        assert_eq!(round_money(dec!(2.5), 0), dec!(3));
        assert_eq!(round_money(dec!(1.0005), 3), dec!(1.001));
    }

    #[test]
    fn exclusive_tax_per_line_then_summed() {
        // Three lines of 0.125 × 1 with 10 %: each line rounds on its own.
        let l = line(
            dec!(1),
            dec!(0.125),
            None,
            vec![tax(dec!(10), false, false)],
        );
        let t = totals(&[l.clone(), l.clone(), l], None, 2);
        assert_eq!(t.lines[0].gross, dec!(0.13));
        assert_eq!(t.lines[0].taxes, [dec!(0.01)]);
        assert_eq!(
            (t.subtotal, t.tax, t.total),
            (dec!(0.39), dec!(0.03), dec!(0.42))
        );
    }

    #[test]
    fn line_and_invoice_discounts() {
        let lines = [
            line(
                dec!(2),
                dec!(50.00),
                Some(Discount::Percent(dec!(10))),
                vec![tax(dec!(20), false, false)],
            ),
            line(
                dec!(1),
                dec!(33.33),
                Some(Discount::Amount(dec!(3.33))),
                vec![],
            ),
        ];
        let t = totals(&lines, Some(Discount::Amount(dec!(12.00))), 2);
        // After own discounts: 90.00 and 30.00; 12.00 shared 9.00 / 3.00.
        assert_eq!(t.lines[0].discount, dec!(19.00));
        assert_eq!(t.lines[1].discount, dec!(6.33));
        assert_eq!(t.lines[0].net, dec!(81.00));
        assert_eq!(t.lines[0].taxes, [dec!(16.20)]);
        assert_eq!(t.lines[1].net, dec!(27.00));
        assert_eq!(
            (t.subtotal, t.discount, t.tax, t.total),
            (dec!(108.00), dec!(25.33), dec!(16.20), dec!(124.20))
        );
        // A discount larger than the amount takes it to zero, not below.
        let t = totals(&lines[1..], Some(Discount::Amount(dec!(500))), 2);
        assert_eq!(t.total, dec!(0.00));
        // Shares add up exactly when they do not divide evenly.
        let three = [
            line(dec!(1), dec!(1.00), None, vec![]),
            line(dec!(1), dec!(1.00), None, vec![]),
            line(dec!(1), dec!(1.00), None, vec![]),
        ];
        let t = totals(&three, Some(Discount::Amount(dec!(1.00))), 2);
        assert_eq!(t.discount, dec!(1.00));
        assert_eq!(t.total, dec!(2.00));
    }

    #[test]
    fn inclusive_and_compound_taxes() {
        // 119.00 including 19 %: net 100.00, tax 19.00.
        let t = totals(
            &[line(
                dec!(1),
                dec!(119.00),
                None,
                vec![tax(dec!(19), true, false)],
            )],
            None,
            2,
        );
        assert_eq!(
            (t.subtotal, t.tax, t.total),
            (dec!(100.00), dec!(19.00), dec!(119.00))
        );
        // Quebec-style: 5 % GST then 9.975 % QST on net (not compound) vs compound.
        let plain = totals(
            &[line(
                dec!(1),
                dec!(100.00),
                None,
                vec![tax(dec!(5), false, false), tax(dec!(9.975), false, false)],
            )],
            None,
            2,
        );
        assert_eq!(plain.lines[0].taxes, [dec!(5.00), dec!(9.98)]);
        let compound = totals(
            &[line(
                dec!(1),
                dec!(100.00),
                None,
                vec![tax(dec!(5), false, false), tax(dec!(9.975), false, true)],
            )],
            None,
            2,
        );
        // 9.975 % of 105.00 = 10.47375 → 10.47.
        assert_eq!(compound.lines[0].taxes, [dec!(5.00), dec!(10.47)]);
        assert_eq!(compound.total, dec!(115.47));
        // Two inclusive taxes share what is taken out by their rates, exactly.
        let t = totals(
            &[line(
                dec!(1),
                dec!(10.00),
                None,
                vec![tax(dec!(7), true, false), tax(dec!(3), true, false)],
            )],
            None,
            2,
        );
        assert_eq!(t.subtotal, dec!(9.09));
        assert_eq!(t.lines[0].taxes.iter().sum::<Decimal>(), dec!(0.91));
        assert_eq!(t.total, dec!(10.00));
    }

    #[test]
    fn currencies_without_cents_and_with_three_digits() {
        let l = line(
            dec!(3),
            dec!(333.5),
            None,
            vec![tax(dec!(10), false, false)],
        );
        let jpy = totals(std::slice::from_ref(&l), None, minor_units("JPY").unwrap());
        assert_eq!(
            (jpy.subtotal, jpy.tax, jpy.total),
            (dec!(1001), dec!(100), dec!(1101))
        );
        let kwd = totals(&[l], None, minor_units("KWD").unwrap());
        assert_eq!((kwd.subtotal, kwd.tax), (dec!(1000.500), dec!(100.050)));
    }
}

// ---- what a document prints ------------------------------------------------------

/// One computed line as a document prints it (see [`printed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFigures {
    /// quantity × unit price, rounded.
    pub gross: Decimal,
    /// The line's own discount as entered.
    pub discount: Option<Discount>,
    /// The line's own discount plus its share of the document's, as computed.
    pub discount_amount: Decimal,
    /// Each tax of the line with its amount.
    pub taxes: Vec<(Tax, Decimal)>,
}

/// A line's printed amounts: `gross − discount = amount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedLine {
    pub gross: Decimal,
    /// The line's own discount (printed negative; zero: none).
    pub discount: Decimal,
    /// What the line adds to the subtotal.
    pub amount: Decimal,
}

/// The amounts a document prints: lines, then subtotal, document
/// discount, each added tax per rate, total; taxes already in the prices
/// are printed after the total as "includes", never added again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    pub lines: Vec<PrintedLine>,
    /// The sum of the printed line amounts.
    pub subtotal: Decimal,
    /// The document's discount (printed negative): its shares over the lines.
    pub document_discount: Decimal,
    /// Exclusive taxes, summed per rate, in the order rates first appear.
    pub added_taxes: Vec<(Tax, Decimal)>,
    /// Inclusive taxes, summed per rate: contained in the line amounts.
    pub included_taxes: Vec<(Tax, Decimal)>,
    /// subtotal − document discount + added taxes.
    pub total: Decimal,
}

/// THE printed rule: what an invoice or a quote prints so that a reader
/// adding the printed numbers gets the printed total, to the cent.
///
/// - Each line prints quantity × unit price, its own discount (if any) and
///   its amount = gross − own discount. The own discount is recomputed from
///   the line's [`Discount`] by [`Discount::of`], exactly as [`totals`]
///   took it; the rest of the line's computed discount is its share of the
///   document discount.
/// - The subtotal is the sum of the printed line amounts.
/// - The document discount is the sum of the shares (printed negative).
/// - Exclusive taxes are printed per rate (name, percent, compound) as the
///   sum of the lines' rounded taxes of that rate, and added.
/// - The total is subtotal − document discount + added taxes. It equals the
///   document's computed total: per line, the net plus its inclusive taxes
///   is the amount after all discounts (inclusive taxes are taken out of it
///   and shared out exactly), so Σ (net + taxes) = Σ amounts − shares +
///   exclusive taxes.
/// - Inclusive taxes are already in the line amounts: printed after the
///   total per rate as what it includes, not added.
pub fn printed(lines: &[LineFigures], minor: u32) -> Printed {
    let mut out = Vec::with_capacity(lines.len());
    let mut document_discount = Decimal::ZERO;
    let mut added: Vec<(Tax, Decimal)> = Vec::new();
    let mut included: Vec<(Tax, Decimal)> = Vec::new();
    for l in lines {
        let own = l.discount.map(|d| d.of(l.gross, minor)).unwrap_or_default();
        document_discount += l.discount_amount - own;
        out.push(PrintedLine {
            gross: l.gross,
            discount: own,
            amount: l.gross - own,
        });
        for (tax, amount) in &l.taxes {
            let sums = if tax.inclusive {
                &mut included
            } else {
                &mut added
            };
            match sums.iter_mut().find(|(t, _)| t == tax) {
                Some((_, sum)) => *sum += amount,
                None => sums.push((tax.clone(), *amount)),
            }
        }
    }
    let subtotal: Decimal = out.iter().map(|l| l.amount).sum();
    let total = subtotal - document_discount + added.iter().map(|(_, a)| *a).sum::<Decimal>();
    Printed {
        lines: out,
        subtotal,
        document_discount,
        added_taxes: added,
        included_taxes: included,
        total,
    }
}

#[cfg(test)]
mod printed_tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rates_are_checked() {
        let mut v = ValidationErrors::new();
        assert_eq!(
            validate_rate(&mut v, "rate", Some(Decimal::new(9550, 2))),
            Some(Decimal::new(955, 1))
        );
        assert!(v.is_empty());
        validate_rate(&mut v, "rate", Some(Decimal::new(-1, 0)));
        validate_rate(&mut v, "rate", Some(Decimal::new(1, 5)));
        assert_eq!(v.0.len(), 2);
    }

    fn figures(inputs: &[LineInput], t: &Totals) -> Vec<LineFigures> {
        inputs
            .iter()
            .zip(&t.lines)
            .map(|(i, l)| LineFigures {
                gross: l.gross,
                discount: i.discount,
                discount_amount: l.discount,
                taxes: i
                    .taxes
                    .iter()
                    .cloned()
                    .zip(l.taxes.iter().copied())
                    .collect(),
            })
            .collect()
    }

    fn tax(name: &str, percent: Decimal, inclusive: bool, compound: bool) -> Tax {
        Tax {
            name: name.into(),
            percent,
            inclusive,
            compound,
        }
    }

    #[test]
    fn the_issues_quote_adds_up() {
        // 2.5 × 120.00 with 10 % off and 19 % VAT, and a second line.
        let vat = tax("VAT", dec!(19), false, false);
        let lines = [
            LineInput {
                quantity: dec!(2.5),
                unit_price: dec!(120.00),
                discount: Some(Discount::Percent(dec!(10))),
                taxes: vec![vat.clone()],
            },
            LineInput {
                quantity: dec!(1),
                unit_price: dec!(33.33),
                discount: None,
                taxes: vec![vat.clone()],
            },
        ];
        let t = totals(&lines, None, 2);
        let p = printed(&figures(&lines, &t), 2);
        assert_eq!(
            p.lines[0],
            PrintedLine {
                gross: dec!(300.00),
                discount: dec!(30.00),
                amount: dec!(270.00)
            }
        );
        assert_eq!(p.subtotal, dec!(303.33));
        assert_eq!(p.document_discount, dec!(0));
        assert_eq!(p.added_taxes, [(vat, dec!(57.63))]);
        assert_eq!(p.total, t.total);
        assert_eq!(p.total, dec!(360.96));
    }

    #[test]
    fn inclusive_taxes_are_printed_but_not_added() {
        let vat = tax("MwSt.", dec!(19), true, false);
        let lines = [LineInput {
            quantity: dec!(1),
            unit_price: dec!(119.00),
            discount: None,
            taxes: vec![vat.clone()],
        }];
        let t = totals(&lines, Some(Discount::Percent(dec!(10))), 2);
        let p = printed(&figures(&lines, &t), 2);
        assert_eq!(p.subtotal, dec!(119.00));
        assert_eq!(p.document_discount, dec!(11.90));
        assert!(p.added_taxes.is_empty());
        assert_eq!(p.included_taxes, [(vat, dec!(17.10))]);
        assert_eq!(p.total, dec!(107.10));
        assert_eq!(p.total, t.total);
    }

    fn arb_discount() -> impl Strategy<Value = Option<Discount>> {
        prop_oneof![
            Just(None),
            (0i64..=10000).prop_map(|p| Some(Discount::Percent(Decimal::new(p, 2)))),
            (0i64..=500_000).prop_map(|a| Some(Discount::Amount(Decimal::new(a, 2)))),
        ]
    }

    fn arb_taxes() -> impl Strategy<Value = Vec<Tax>> {
        let rates = vec![
            tax("VAT", dec!(19), false, false),
            tax("VAT", dec!(7), false, false),
            tax("VAT incl", dec!(19), true, false),
            tax("Eco incl", dec!(2.5), true, false),
            tax("GST", dec!(5), false, false),
            tax("QST", dec!(9.975), false, true),
        ];
        proptest::sample::subsequence(rates, 0..=3)
    }

    fn arb_line() -> impl Strategy<Value = LineInput> {
        (
            -5i64..=100_000,
            0i64..=10_000_000,
            arb_discount(),
            arb_taxes(),
        )
            .prop_map(|(q, p, discount, taxes)| LineInput {
                quantity: Decimal::new(q, 2),
                unit_price: Decimal::new(p, 4),
                discount,
                taxes,
            })
    }

    proptest! {
        /// Whatever the lines, discounts and taxes, the printed numbers add
        /// up to the computed total, and the printed discounts to the
        /// computed discount.
        #[test]
        fn printed_numbers_add_up_to_the_total(
            lines in proptest::collection::vec(arb_line(), 1..40),
            doc in arb_discount(),
            minor in prop_oneof![Just(0u32), Just(2u32), Just(3u32)],
        ) {
            let t = totals(&lines, doc, minor);
            let p = printed(&figures(&lines, &t), minor);
            prop_assert_eq!(p.total, t.total);
            prop_assert_eq!(
                p.lines.iter().map(|l| l.discount).sum::<Decimal>() + p.document_discount,
                t.discount
            );
            let taxes: Decimal = p.added_taxes.iter().chain(&p.included_taxes).map(|(_, a)| *a).sum();
            prop_assert_eq!(taxes, t.tax);
            for l in &p.lines {
                prop_assert_eq!(l.gross - l.discount, l.amount);
            }
        }
    }
}
