-- The client page's quotes block and the quote list filtered by client
-- (`GET /api/v1/quotes?client_id=`): newest first, one client's rows only.
CREATE INDEX quotes_client_idx ON quotes (company_id, client_id, id DESC);
