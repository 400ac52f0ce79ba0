//! End-to-end tests: imports (10,000 rows with 50 bad ones, re-import
//! without duplicates, all-or-nothing, references by client name, bad
//! files, the job run twice) and exports (content, quoting, formula guard,
//! filters), the role matrix and tenant isolation.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use nestogy_domain::ImportId;
use nestogy_domain::kernel::roles::Role;
use nestogy_jobs::imports::Run;
use serde_json::{Value, json};

use crate::common::{Response, Tenant, TestApp};

async fn upload(app: &TestApp, token: &str, query: &str, ct: &str, body: Vec<u8>) -> Response {
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/imports?{query}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", ct)
        .body(Body::from(body))
        .expect("request");
    app.raw(req).await
}

fn run_of(t: &Tenant, queued: &Response) -> Run {
    let id: uuid::Uuid = queued.body["import"]["id"]
        .as_str()
        .expect("import id")
        .parse()
        .expect("uuid");
    Run {
        tenant: t.id,
        import: ImportId(id),
        user: None,
    }
}

/// Uploads `csv` as `kind` in `mode`, runs its job, returns the import.
async fn import(app: &TestApp, t: &Tenant, kind: &str, mode: &str, csv: &str) -> Value {
    let r = upload(
        app,
        &t.admin,
        &format!("kind={kind}&mode={mode}&filename={kind}.csv"),
        "text/csv",
        csv.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["import"]["status"], "queued");
    assert!(r.body["job_id"].is_string());
    app.run_job(run_of(t, &r)).await.expect("import job");
    let id = r.body["import"]["id"].as_str().expect("id");
    let got = app.get(&format!("/api/v1/imports/{id}"), &t.admin).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    got.body
}

/// Every row error of an import, paging through.
async fn all_errors(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=200&cursor={c}"),
            None => "?limit=200".to_owned(),
        };
        let r = app
            .get(&format!("/api/v1/imports/{id}/errors{q}"), token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        out.extend(r.body["data"].as_array().expect("data").iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn counts(i: &Value) -> (i64, i64, i64, i64, i64) {
    (
        i["total_rows"].as_i64().unwrap(),
        i["created_rows"].as_i64().unwrap(),
        i["updated_rows"].as_i64().unwrap(),
        i["unchanged_rows"].as_i64().unwrap(),
        i["failed_rows"].as_i64().unwrap(),
    )
}

/// A client file of `n` rows; every 200th row from row 8 is bad in one of
/// five ways. Returns the file and the bad rows' (row, field, code).
fn big_client_file(n: usize) -> (String, Vec<(i64, &'static str, &'static str)>) {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "name",
        "email",
        "phone",
        "website",
        "tax_id",
        "notes",
        "email_domains",
    ])
    .unwrap();
    let mut bad = Vec::new();
    for i in 0..n {
        let name = format!("Client {i:05}");
        let email = format!("c{i}@example.com");
        let phone = "+1 555 0100".to_owned();
        let domains = format!("c{i}.example.com");
        let notes = if i % 3 == 0 {
            "Notes, with a comma and \"quotes\"".to_owned()
        } else {
            String::new()
        };
        let mut row = [
            name,
            email,
            phone,
            String::new(),
            String::new(),
            notes,
            domains,
        ];
        if i % 200 == 7 {
            let (field, code) = match (i / 200) % 5 {
                0 => {
                    row[1] = "not-an-email".into();
                    ("email", "invalid_email")
                }
                1 => {
                    row[0] = "   ".into();
                    ("name", "required")
                }
                2 => {
                    row[6] = "not a domain".into();
                    ("email_domains", "invalid")
                }
                3 => {
                    row[2] = "9".repeat(51);
                    ("phone", "too_long")
                }
                _ => {
                    row[0] = "client 00000".into();
                    ("name", "duplicate")
                }
            };
            bad.push((i as i64 + 1, field, code));
        }
        w.write_record(&row).unwrap();
    }
    (String::from_utf8(w.into_inner().unwrap()).unwrap(), bad)
}

#[tokio::test]
async fn ten_thousand_rows_with_fifty_bad_import_the_rest_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Bulk Co").await;
    let (file, bad) = big_client_file(10_000);
    assert_eq!(bad.len(), 50);

    let started = std::time::Instant::now();
    let done = import(&app, &t, "clients", "valid_rows", &file).await;
    eprintln!(
        "importing 10,000 client rows (50 bad) took {:?}",
        started.elapsed()
    );
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(counts(&done), (10_000, 9_950, 0, 0, 50));
    assert_eq!(app.count("SELECT count(*) FROM clients").await, 9_950);

    let errors = all_errors(&app, &t.admin, done["id"].as_str().unwrap()).await;
    assert_eq!(errors.len(), 50, "{errors:?}");
    let got: Vec<(i64, String, String)> = errors
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(i64, String, String)> = bad
        .iter()
        .map(|(r, f, c)| (*r, f.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(
        errors
            .iter()
            .all(|e| !e["message"].as_str().unwrap().is_empty()),
        "every error says why"
    );

    // The same file again: nothing new, nothing changed.
    let started = std::time::Instant::now();
    let again = import(&app, &t, "clients", "valid_rows", &file).await;
    eprintln!(
        "importing the same 10,000 rows again took {:?}",
        started.elapsed()
    );
    assert_eq!(counts(&again), (10_000, 0, 0, 9_950, 50));
    assert_eq!(app.count("SELECT count(*) FROM clients").await, 9_950);

    // A changed row updates its client, not a new one.
    let one = "name,email\nCLIENT 00001,new@example.com\n";
    let upd = import(&app, &t, "clients", "all_or_nothing", one).await;
    assert_eq!(counts(&upd), (1, 0, 1, 0, 0));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM clients WHERE name = 'CLIENT 00001' AND email = 'new@example.com' \
             AND email_domains = '{}'"
        )
        .await,
        1
    );

    let list = app.get("/api/v1/imports?limit=2", &t.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["total"], 3);
    assert_eq!(list.body["data"][0]["id"], upd["id"]);
    assert!(list.body["next_cursor"].is_string());
}

#[tokio::test]
async fn all_or_nothing_imports_nothing_on_one_bad_row() {
    let app = TestApp::new().await;
    let t = app.tenant("Strict Co").await;
    let file = "name,email\nAcme,a@acme.example\nBeta,not-mail\nGamma,\n";
    let done = import(&app, &t, "clients", "all_or_nothing", file).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(counts(&done), (3, 0, 0, 0, 1));
    assert!(
        done["failure"]
            .as_str()
            .unwrap()
            .contains("nothing was imported")
    );
    assert_eq!(app.count("SELECT count(*) FROM clients").await, 0);
    let errors = all_errors(&app, &t.admin, done["id"].as_str().unwrap()).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["row"], 2);
    assert_eq!(errors[0]["field"], "email");
    assert_eq!(errors[0]["code"], "invalid_email");

    // The default mode is all-or-nothing.
    let r = upload(
        &app,
        &t.admin,
        "kind=clients",
        "text/csv; charset=utf-8",
        file.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["import"]["mode"], "all_or_nothing");
}

#[tokio::test]
async fn the_job_run_twice_does_it_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Twice Co").await;
    let r = upload(
        &app,
        &t.admin,
        "kind=clients&mode=valid_rows",
        "text/csv",
        b"\xef\xbb\xbfName,Email\nAcme,a@acme.example\nBad,x\n".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let first = app.run_job(run_of(&t, &r)).await.expect("first run");
    let second = app.run_job(run_of(&t, &r)).await.expect("second run");
    assert_eq!(first["created"], 1);
    assert_eq!(first["failed"], 1);
    for k in [
        "status",
        "total",
        "created",
        "updated",
        "unchanged",
        "failed",
    ] {
        assert_eq!(first[k], second[k], "{k}");
    }
    assert_eq!(app.count("SELECT count(*) FROM clients").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM import_errors").await, 1);
}

#[tokio::test]
async fn contacts_locations_and_assets_name_their_client() {
    let app = TestApp::new().await;
    let t = app.tenant("Refs Co").await;
    app.client(&t.admin, "Acme").await;
    app.client(&t.admin, "Beta").await;

    let contacts = "client,name,email,phone,title,is_primary,is_billing\n\
        acme,Ann,ann@acme.example,,CEO,true,false\n\
        Acme,Bob,,,,no,yes\n\
        Nobody,Cat,cat@x.example,,,,\n\
        Beta,Dan,dan@beta.example,,,maybe,\n\
        Beta,Eve,eve@beta.example,,,,\n";
    let done = import(&app, &t, "contacts", "valid_rows", contacts).await;
    assert_eq!(counts(&done), (5, 3, 0, 0, 2), "{done}");
    let errors = all_errors(&app, &t.admin, done["id"].as_str().unwrap()).await;
    let got: Vec<(i64, &str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(3, "client", "not_found"), (4, "is_primary", "invalid")]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM contacts WHERE is_primary AND name = 'Ann'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM contacts WHERE is_billing AND name = 'Bob'")
            .await,
        1
    );
    // Again: nothing new; a changed title updates the match by e-mail.
    let again = import(&app, &t, "contacts", "valid_rows", contacts).await;
    assert_eq!(counts(&again), (5, 0, 0, 3, 2));
    let changed = "client,name,email,title\nAcme,Ann,ANN@acme.example,CFO\n";
    let upd = import(&app, &t, "contacts", "all_or_nothing", changed).await;
    assert_eq!(counts(&upd), (1, 0, 1, 0, 0), "{upd}");
    assert_eq!(app.count("SELECT count(*) FROM contacts").await, 3);

    let locations = "client,name,line1,city,postal_code,country,phone,notes\n\
        Acme,HQ,1 Main St,Springfield,12345,us,,\n\
        Acme,Depot,,,,,,\n\
        Beta,HQ,,,,USA,,\n";
    let done = import(&app, &t, "locations", "valid_rows", locations).await;
    assert_eq!(counts(&done), (3, 2, 0, 0, 1), "{done}");
    let errors = all_errors(&app, &t.admin, done["id"].as_str().unwrap()).await;
    assert_eq!(errors[0]["row"], 3);
    assert_eq!(errors[0]["field"], "country");
    assert_eq!(
        app.count("SELECT count(*) FROM locations WHERE address->>'country' = 'US'")
            .await,
        1
    );
    let again = import(&app, &t, "locations", "valid_rows", locations).await;
    assert_eq!(counts(&again), (3, 0, 0, 2, 1));

    let assets = "client,name,type,status,serial,ip_address,mac_address,purchase_date,purchase_cost,warranty_expires\n\
        Acme,PC-1,workstation,,SN-1,10.0.0.1,AA-BB-CC-DD-EE-FF,2025-01-01,999.50,2028-01-01\n\
        Acme,PC-2,laptop,spare,,,,,,\n\
        Acme,PC-3,toaster,,,,,,,\n\
        Acme,PC-4,server,,SN-4,999.1.1.1,,2025-13-01,-5,\n\
        Beta,PC-1,server,,SN-1,,,,,\n";
    let done = import(&app, &t, "assets", "valid_rows", assets).await;
    assert_eq!(counts(&done), (5, 3, 0, 0, 2), "{done}");
    let errors = all_errors(&app, &t.admin, done["id"].as_str().unwrap()).await;
    let fields: Vec<(i64, &str)> = errors
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert!(fields.contains(&(3, "type")), "{fields:?}");
    assert!(fields.contains(&(4, "ip_address")), "{fields:?}");
    assert!(fields.contains(&(4, "purchase_date")), "{fields:?}");
    assert!(fields.contains(&(4, "purchase_cost")), "{fields:?}");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM assets WHERE mac_address = 'aa:bb:cc:dd:ee:ff' \
             AND purchase_cost = 999.5"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM asset_events WHERE kind = 'created'")
            .await,
        3
    );
    let again = import(&app, &t, "assets", "valid_rows", assets).await;
    assert_eq!(counts(&again), (5, 0, 0, 3, 2));
    let moved = "client,name,type,serial,notes\nAcme,PC-1 renamed,workstation,sn-1,moved\n";
    let upd = import(&app, &t, "assets", "all_or_nothing", moved).await;
    assert_eq!(counts(&upd), (1, 0, 1, 0, 0), "{upd}");
    assert_eq!(app.count("SELECT count(*) FROM assets").await, 3);
    assert_eq!(
        app.count("SELECT count(*) FROM asset_events WHERE kind = 'updated'")
            .await,
        1
    );
}

#[tokio::test]
async fn bad_files_answer_4xx_and_change_nothing() {
    let app = TestApp::new().await;
    let t = app.tenant("Bad Co").await;
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "kind=clients",
            "text/csv",
            b"name,colour\nAcme,red\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_column",
        ),
        (
            "kind=contacts",
            "text/csv",
            b"name,email\nAnn,a@b.co\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_column",
        ),
        (
            "kind=clients",
            "text/csv",
            b"name,name\nA,B\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_column",
        ),
        (
            "kind=clients",
            "text/csv",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
        (
            "kind=clients",
            "text/csv",
            b"name,email\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_rows",
        ),
        (
            "kind=clients",
            "text/csv",
            b"name\nCaf\xe9\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_encoding",
        ),
        (
            "kind=widgets",
            "text/csv",
            b"name\nA\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "kind=clients&mode=some",
            "text/csv",
            b"name\nA\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "kind=clients",
            "application/json",
            br#"{"name": "A"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "",
        ),
        (
            "kind=clients",
            "text/csv; charset=latin1",
            b"name\nA\n".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "",
        ),
        (
            "kind=clients&sneaky=1",
            "text/csv",
            b"name\nA\n".to_vec(),
            StatusCode::BAD_REQUEST,
            "",
        ),
    ];
    for (query, ct, body, status, field_code) in cases {
        let r = upload(&app, &t.admin, query, ct, body).await;
        assert_eq!(r.status, status, "{query} {ct}: {}", r.body);
        r.error_code();
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            let codes: Vec<&str> = r.body["error"]["details"]["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|f| f["code"].as_str().unwrap())
                .collect();
            assert!(codes.contains(&field_code), "{query}: {}", r.body);
        }
    }
    // Unsigned.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/imports?kind=clients")
        .header("content-type", "text/csv")
        .body(Body::from("name\nA\n"))
        .unwrap();
    assert_eq!(app.raw(req).await.status, StatusCode::UNAUTHORIZED);

    // Over 10 MiB: 413. Between 1 and 10 MiB: accepted.
    let mut huge = b"name,notes\n".to_vec();
    let line = format!("A,{}\n", "x".repeat(1000));
    while huge.len() <= 10 * 1024 * 1024 {
        huge.extend_from_slice(line.as_bytes());
    }
    let r = upload(&app, &t.admin, "kind=clients", "text/csv", huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.error_code(), "payload_too_large");
    assert_eq!(app.count("SELECT count(*) FROM imports").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM clients").await, 0);

    let mut big = b"name,notes\n".to_vec();
    let mut i = 0;
    while big.len() <= 2 * 1024 * 1024 {
        big.extend_from_slice(format!("Client {i},{}\n", "y".repeat(1000)).as_bytes());
        i += 1;
    }
    let r = upload(
        &app,
        &t.admin,
        "kind=clients&mode=valid_rows",
        "text/csv",
        big,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    app.run_job(run_of(&t, &r)).await.expect("job");
    assert_eq!(app.count("SELECT count(*) FROM clients").await, i);

    // Declared over 1 MiB anywhere else: 413 before any handler runs.
    let client = app.client(&t.admin, "Capped").await;
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/clients/{client}/archive"))
        .header("authorization", format!("Bearer {}", t.admin))
        .header("content-type", "application/octet-stream")
        .header("content-length", (2 * 1024 * 1024).to_string())
        .body(Body::from(vec![b' '; 2 * 1024 * 1024]))
        .unwrap();
    let r = app.raw(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.error_code(), "payload_too_large");
    assert_eq!(
        app.count("SELECT count(*) FROM clients WHERE archived_at IS NOT NULL")
            .await,
        0
    );

    // A JSON route still refuses over 1 MiB.
    let r = app
        .post(
            "/api/v1/clients",
            &t.admin,
            json!({"name": "x".repeat(1024 * 1024 + 10)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);

    // Bad ids and cursors.
    let r = app.get("/api/v1/imports/not-a-uuid", &t.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .get(
            &format!("/api/v1/imports/{}", uuid::Uuid::now_v7()),
            &t.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get("/api/v1/imports?cursor=garbage", &t.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

/// The CSV of an export, parsed: the header and the rows.
async fn export(app: &TestApp, token: &str, path: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let (status, headers, bytes) = app.get_bytes(path, token).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let cd = headers["content-disposition"].to_str().unwrap();
    assert!(
        cd.starts_with("attachment; filename=") && cd.contains(".csv"),
        "{cd}"
    );
    let mut r = csv::Reader::from_reader(&bytes[..]);
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = header.iter().position(|h| h == name).expect(name);
    rows.iter().map(|r| r[i].clone()).collect()
}

#[tokio::test]
async fn exports_quote_guard_filter_and_reimport() {
    let app = TestApp::new().await;
    let t = app.tenant("Export Co").await;
    let acme = app.client(&t.admin, "Acme, \"the\" Company").await;
    let evil = app.client(&t.admin, "=HYPERLINK(\"http://x\")").await;
    let inv = app.open_invoice(&t.admin, &acme, "Work").await;
    app.open_invoice(&t.admin, &evil, "Other").await;
    let pay = app
        .post(
            &format!("/api/v1/invoices/{inv}/payments"),
            &t.admin,
            json!({"amount": "100.00", "method": "card", "reference": "-1 ref"}),
        )
        .await;
    assert_eq!(pay.status, StatusCode::CREATED, "{}", pay.body);
    let tk = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Printer, on fire", "client_id": acme}),
        )
        .await;
    assert_eq!(tk.status, StatusCode::CREATED, "{}", tk.body);
    let asset = app
        .post(
            "/api/v1/assets",
            &t.admin,
            json!({"client_id": acme, "name": "PC-1", "type": "laptop", "serial": "S1", "purchase_cost": "10.5"}),
        )
        .await;
    assert_eq!(asset.status, StatusCode::CREATED, "{}", asset.body);

    let (h, rows) = export(&app, &t.admin, "/api/v1/exports/clients").await;
    assert_eq!(
        h,
        [
            "name",
            "email",
            "phone",
            "website",
            "tax_id",
            "notes",
            "email_domains"
        ]
    );
    let mut names = column(&h, &rows, "name");
    names.sort();
    assert_eq!(
        names,
        ["'=HYPERLINK(\"http://x\")", "Acme, \"the\" Company"]
    );

    let (h, rows) = export(&app, &t.admin, "/api/v1/exports/invoices").await;
    assert_eq!(rows.len(), 2);
    let totals = column(&h, &rows, "total");
    assert!(totals.iter().all(|x| x == "361.50"), "{totals:?}");
    let (h, rows) = export(
        &app,
        &t.admin,
        &format!("/api/v1/exports/invoices?client_id={acme}"),
    )
    .await;
    assert_eq!(column(&h, &rows, "client"), ["Acme, \"the\" Company"]);
    assert_eq!(column(&h, &rows, "balance"), ["261.50"]);
    let today = app.clock_now().date_naive();
    let tomorrow = today + chrono::Duration::days(1);
    let (_, rows) = export(
        &app,
        &t.admin,
        &format!("/api/v1/exports/invoices?from={tomorrow}"),
    )
    .await;
    assert!(rows.is_empty());
    let r = app
        .get(
            &format!("/api/v1/exports/invoices?from={tomorrow}&to={today}"),
            &t.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    let (h, rows) = export(&app, &t.admin, "/api/v1/exports/payments").await;
    assert_eq!(column(&h, &rows, "amount"), ["100.00"]);
    assert_eq!(column(&h, &rows, "reference"), ["'-1 ref"]);

    let (h, rows) = export(&app, &t.admin, "/api/v1/exports/tickets").await;
    assert_eq!(column(&h, &rows, "subject"), ["Printer, on fire"]);
    assert_eq!(column(&h, &rows, "client"), ["Acme, \"the\" Company"]);

    let (h, rows) = export(&app, &t.admin, "/api/v1/exports/assets").await;
    assert_eq!(column(&h, &rows, "purchase_cost"), ["10.50"]);
    assert_eq!(column(&h, &rows, "type"), ["laptop"]);

    // The asset file imports again as it is: nothing changes.
    let (_, _, bytes) = app.get_bytes("/api/v1/exports/assets", &t.admin).await;
    let again = import(
        &app,
        &t,
        "assets",
        "all_or_nothing",
        std::str::from_utf8(&bytes).unwrap(),
    )
    .await;
    assert_eq!(counts(&again), (1, 0, 0, 1, 0), "{again}");

    let r = app.get("/api/v1/exports/widgets", &t.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get("/api/v1/exports/clients?client_id=nope", &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn exports_stream_many_pages() {
    let app = TestApp::new().await;
    let t = app.tenant("Pages Co").await;
    let mut file = String::from("name\n");
    for i in 0..2_500 {
        file.push_str(&format!("Client {i:04}\n"));
    }
    let done = import(&app, &t, "clients", "all_or_nothing", &file).await;
    assert_eq!(counts(&done), (2_500, 2_500, 0, 0, 0));
    let (_, rows) = export(&app, &t.admin, "/api/v1/exports/clients").await;
    assert_eq!(rows.len(), 2_500);
    let distinct: std::collections::HashSet<&String> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(distinct.len(), 2_500);
}

#[tokio::test]
async fn roles_and_tenants() {
    let app = TestApp::new().await;
    let a = app.tenant("A Co").await;
    let b = app.tenant("B Co").await;
    let tech = app.user(&a, Role::Tech).await;
    let accountant = app.user(&a, Role::Accountant).await;
    app.client(&a.admin, "Alpha Secret").await;
    let b_client = app.client(&b.admin, "Bravo").await;

    let mut statuses: HashMap<(&str, String), StatusCode> = HashMap::new();
    for (who, token) in [("tech", &tech), ("accountant", &accountant)] {
        for kind in ["clients", "contacts", "assets"] {
            let body = match kind {
                "clients" => "name\nZed\n",
                "contacts" => "client,name\nAlpha Secret,Zoe\n",
                _ => "client,name,type\nAlpha Secret,Box,server\n",
            };
            let r = upload(
                &app,
                token,
                &format!("kind={kind}"),
                "text/csv",
                body.as_bytes().to_vec(),
            )
            .await;
            statuses.insert((who, format!("import {kind}")), r.status);
        }
        for kind in ["clients", "invoices", "payments", "tickets", "assets"] {
            let r = app.get(&format!("/api/v1/exports/{kind}"), token).await;
            statuses.insert((who, format!("export {kind}")), r.status);
        }
    }
    let want = [
        ("tech", "import clients", StatusCode::ACCEPTED),
        ("tech", "import contacts", StatusCode::ACCEPTED),
        ("tech", "import assets", StatusCode::ACCEPTED),
        ("tech", "export clients", StatusCode::OK),
        ("tech", "export invoices", StatusCode::FORBIDDEN),
        ("tech", "export payments", StatusCode::FORBIDDEN),
        ("tech", "export tickets", StatusCode::OK),
        ("tech", "export assets", StatusCode::OK),
        ("accountant", "import clients", StatusCode::FORBIDDEN),
        ("accountant", "import contacts", StatusCode::FORBIDDEN),
        ("accountant", "import assets", StatusCode::FORBIDDEN),
        ("accountant", "export clients", StatusCode::OK),
        ("accountant", "export invoices", StatusCode::OK),
        ("accountant", "export payments", StatusCode::OK),
        ("accountant", "export tickets", StatusCode::FORBIDDEN),
        ("accountant", "export assets", StatusCode::FORBIDDEN),
    ];
    assert_eq!(statuses.len(), want.len());
    for (who, what, s) in want {
        assert_eq!(statuses[&(who, what.to_owned())], s, "{who} {what}");
    }
    let r = app.get("/api/v1/imports", &accountant).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT count(*) FROM imports").await,
        3,
        "only the tech's uploads were stored"
    );

    // Tenant B sees none of A's rows or imports.
    let queued = upload(
        &app,
        &a.admin,
        "kind=clients&mode=valid_rows",
        "text/csv",
        b"name,email\nAlpha Two,x\n".to_vec(),
    )
    .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED);
    app.run_job(run_of(&a, &queued)).await.expect("job");
    let id = queued.body["import"]["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/imports/{id}"),
        format!("/api/v1/imports/{id}/errors"),
    ] {
        let r = app.get(&path, &b.admin).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = app.get("/api/v1/imports", &b.admin).await;
    assert_eq!(r.body["total"], 0);
    let (_, rows) = export(&app, &b.admin, "/api/v1/exports/clients").await;
    assert_eq!(
        rows,
        vec![vec![
            "Bravo".to_owned(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into()
        ]]
    );
    let r = app
        .get(
            &format!("/api/v1/exports/clients?client_id={b_client}"),
            &a.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // B's import naming A's client finds no such client.
    let done = import(
        &app,
        &b,
        "contacts",
        "valid_rows",
        "client,name\nAlpha Secret,Spy\n",
    )
    .await;
    assert_eq!(counts(&done), (1, 0, 0, 0, 1));
}

#[tokio::test]
async fn a_worker_runs_the_queued_import() {
    let app = TestApp::new().await;
    let t = app.tenant("Worker Co").await;
    let r = upload(
        &app,
        &t.admin,
        "kind=clients&mode=valid_rows",
        "text/csv",
        b"name,email\nAcme,a@acme.example\nBeta,b@beta.example\n".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.body["import"]["id"].as_str().unwrap().to_owned();
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    let _worker = app.start_worker();
    let path = format!("/api/v1/imports/{id}");
    crate::common::eventually(
        "the import to finish",
        std::time::Duration::from_secs(30),
        || {
            let (app, path, token) = (&app, &path, &t.admin);
            async move { app.get(path, token).await.body["status"] == "completed" }
        },
    )
    .await;
    let done = app.get(&path, &t.admin).await.body;
    assert_eq!(counts(&done), (2, 2, 0, 0, 0));
    assert_eq!(done["job_id"], job.as_str());
    let j = app.get(&format!("/api/v1/jobs/{job}"), &t.admin).await;
    assert_eq!(j.status, StatusCode::OK, "{}", j.body);
    assert_eq!(app.count("SELECT count(*) FROM clients").await, 2);
}
