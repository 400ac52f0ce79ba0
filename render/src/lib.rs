//! Renders documents (invoices, quotes, statements) to PDF with typst.
