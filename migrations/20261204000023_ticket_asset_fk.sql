-- A ticket's asset is an asset of the ticket's own tenant. The API checks
-- it (422 naming `asset_id`); the database holds it too, with a foreign key
-- over (company, asset), so no path can store another tenant's asset or an
-- id that names nothing. Ids stored before that name no asset of the
-- ticket's tenant are cleared. Deleting an asset clears it from tickets.
UPDATE tickets t SET asset_id = NULL
WHERE asset_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM assets a WHERE a.company_id = t.company_id AND a.id = t.asset_id);
CREATE UNIQUE INDEX assets_company_id_key ON assets (company_id, id);
CREATE INDEX tickets_asset_idx ON tickets (company_id, asset_id) WHERE asset_id IS NOT NULL;
ALTER TABLE tickets ADD CONSTRAINT tickets_asset_id_fkey FOREIGN KEY (company_id, asset_id)
    REFERENCES assets (company_id, id) ON DELETE SET NULL (asset_id);
