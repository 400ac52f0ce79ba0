-- Assets (a client's devices and licences) with their history, a client's
-- networks, and the warranty alerts sent, once per asset, threshold and
-- expiry date.

CREATE TABLE assets (
    id                uuid PRIMARY KEY,
    company_id        uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id         uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name              text NOT NULL,
    asset_type        text NOT NULL CHECK (asset_type IN ('workstation', 'laptop', 'server', 'network',
                                                          'printer', 'mobile', 'software_licence', 'other')),
    make              text,
    model             text,
    -- Not unique: imported machines often carry placeholder serials
    -- ("To be filled by O.E.M."); matching by serial reports ambiguity instead.
    serial            text,
    hostname          text,
    -- Validated and normalised by the application: an IPv4 or IPv6 address,
    -- a MAC as aa:bb:cc:dd:ee:ff.
    ip_address        text,
    mac_address       text,
    operating_system  text,
    -- Of the asset's client (checked by the application).
    location_id       uuid REFERENCES locations(id) ON DELETE SET NULL,
    contact_id        uuid REFERENCES contacts(id) ON DELETE SET NULL,
    purchase_date     date,
    purchase_cost     numeric(16, 4) CHECK (purchase_cost >= 0),
    currency          text NOT NULL,
    warranty_expires  date,
    status            text NOT NULL CHECK (status IN ('in_use', 'spare', 'in_repair', 'retired')),
    notes             text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- The list's order (by name), alone and per client.
CREATE INDEX assets_name_idx ON assets (company_id, lower(name), id);
CREATE INDEX assets_client_name_idx ON assets (company_id, client_id, lower(name), id);
CREATE INDEX assets_type_idx ON assets (company_id, asset_type);
CREATE INDEX assets_status_idx ON assets (company_id, status);
CREATE INDEX assets_warranty_idx ON assets (company_id, warranty_expires, id) WHERE warranty_expires IS NOT NULL;
-- Monitoring alerts will find assets by serial or hostname within a tenant.
CREATE INDEX assets_serial_idx ON assets (company_id, lower(serial)) WHERE serial IS NOT NULL;
CREATE INDEX assets_hostname_idx ON assets (company_id, lower(hostname)) WHERE hostname IS NOT NULL;
-- So deleting a location or contact finds its assets without a scan.
CREATE INDEX assets_location_idx ON assets (location_id) WHERE location_id IS NOT NULL;
CREATE INDEX assets_contact_idx ON assets (contact_id) WHERE contact_id IS NOT NULL;

-- What changed, when and by whom: {field: {from, to}}.
CREATE TABLE asset_events (
    id          bigserial PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    asset_id    uuid NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('created', 'updated', 'bulk')),
    changes     jsonb NOT NULL DEFAULT '{}'::jsonb,
    user_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX asset_events_asset_idx ON asset_events (company_id, asset_id, id);

CREATE TABLE networks (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id    uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name         text NOT NULL,
    -- Normalised to the network address: 10.0.1.0/24.
    cidr         text NOT NULL,
    vlan         int CHECK (vlan BETWEEN 1 AND 4094),
    gateway      text,
    dns_servers  text[] NOT NULL DEFAULT '{}',
    notes        text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX networks_client_name_key ON networks (company_id, client_id, lower(name));
CREATE INDEX networks_client_name_idx ON networks (company_id, client_id, lower(name), id);

-- One alert per asset, threshold and expiry date: a changed expiry alerts again.
CREATE TABLE warranty_alerts (
    company_id        uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    asset_id          uuid NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    threshold_days    int NOT NULL CHECK (threshold_days > 0),
    warranty_expires  date NOT NULL,
    mail_id           uuid REFERENCES mail_messages(id) ON DELETE SET NULL,
    alerted_at        timestamptz NOT NULL,
    CONSTRAINT warranty_alerts_key UNIQUE (asset_id, threshold_days, warranty_expires)
);
CREATE INDEX warranty_alerts_company_idx ON warranty_alerts (company_id, asset_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['assets', 'asset_events', 'networks', 'warranty_alerts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;
GRANT USAGE ON SEQUENCE asset_events_id_seq TO nestogy_app;

-- Existing companies get the daily warranty alerts new ones start with.
INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled, fired_through,
                       next_fire_at, created_at, updated_at)
SELECT gen_random_uuid(), c.id, 'warranty alerts', 'assets.warranty_alerts', '0 8 * * *', c.time_zone,
       '{}'::jsonb, true, now(), now(), now(), now()
FROM companies c
ON CONFLICT DO NOTHING;
