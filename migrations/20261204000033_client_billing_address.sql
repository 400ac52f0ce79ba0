-- Where a client's invoices, quotes and statements are addressed (an
-- address object like companies.address); without one, documents show the
-- address of the client's primary location.
ALTER TABLE clients ADD COLUMN billing_address jsonb;
