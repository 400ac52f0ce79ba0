-- The monthly management reports rendered for a company: one row per
-- month, naming the PDF in the object store (`file_key`, under the
-- tenant's prefix). The report job writes it after storing the PDF; a
-- later render of the same month (changed data) replaces it. The API lists
-- them and serves their PDFs.
CREATE TABLE management_reports (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    file_key    text NOT NULL,
    file_name   text NOT NULL,
    bytes       bigint NOT NULL CHECK (bytes >= 0),
    digest      text NOT NULL,
    rendered_at timestamptz NOT NULL,
    PRIMARY KEY (company_id, month)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON management_reports TO nestogy_app;
ALTER TABLE management_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON management_reports
    USING (company_id = app_company_id())
    WITH CHECK (company_id = app_company_id());
