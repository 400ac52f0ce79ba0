-- Bulk CSV imports: one row per uploaded file, its row errors alongside.
CREATE TABLE imports (
    id            uuid PRIMARY KEY,
    company_id    uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('clients', 'contacts', 'locations', 'assets')),
    mode          text NOT NULL CHECK (mode IN ('all_or_nothing', 'valid_rows')),
    status        text NOT NULL CHECK (status IN ('queued', 'completed', 'failed')),
    filename      text,
    -- The file in the object store, under the tenant's prefix.
    file_key      text NOT NULL,
    sha256        text NOT NULL,
    size_bytes    bigint NOT NULL,
    total_rows    int NOT NULL DEFAULT 0,
    created_rows  int NOT NULL DEFAULT 0,
    updated_rows  int NOT NULL DEFAULT 0,
    unchanged_rows int NOT NULL DEFAULT 0,
    failed_rows   int NOT NULL DEFAULT 0,
    -- Why the whole import failed (all_or_nothing with row errors, a bad file).
    failure       text,
    job_id        uuid,
    created_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX imports_list_idx ON imports (company_id, created_at DESC, id DESC);

CREATE TABLE import_errors (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    import_id   uuid NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    -- 1-based data row (the header is row 0); the file line is row + 1
    -- unless a quoted cell spans lines.
    row_number  int NOT NULL,
    seq         int NOT NULL,
    field       text NOT NULL,
    code        text NOT NULL,
    message     text NOT NULL,
    PRIMARY KEY (import_id, row_number, seq)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['imports', 'import_errors'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;
