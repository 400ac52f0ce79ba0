//! The names a page prints for the ids its rows carry.
//!
//! One API call per page, whatever the number of rows or of the tenant's
//! clients: `GET /api/v1/clients?ids=...` answers the named clients only
//! (archived ones too), so a tenant with 10,000 clients costs what one with
//! ten does.

use std::collections::{BTreeSet, HashMap};

use nestogy_domain::ClientId;
use nestogy_domain::customers::clients::Client;
use nestogy_domain::kernel::pagination::Page;

use crate::api_client::{ApiFailure, query};
use crate::session::Console;

/// The most ids the API takes in one `ids` filter.
const CHUNK: usize = 200;

/// The names of the clients `ids` names (repeats and all), by id. A client
/// the user cannot see (deleted since) has no entry.
pub(crate) async fn client_names(
    c: &Console,
    ids: impl IntoIterator<Item = ClientId>,
) -> Result<HashMap<ClientId, String>, ApiFailure> {
    let ids: Vec<String> = ids
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let mut names = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let joined = chunk.join(",");
        let limit = chunk.len().to_string();
        let page: Page<Client> = c
            .api
            .get(format!(
                "/api/v1/clients{}",
                query(&[
                    ("ids", joined.as_str()),
                    ("status", "all"),
                    ("limit", limit.as_str()),
                ])
            ))
            .await?;
        names.extend(page.data.into_iter().map(|cl| (cl.id, cl.name)));
    }
    Ok(names)
}
