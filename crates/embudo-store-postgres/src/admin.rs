//! Creating and dropping databases on a server (for tests and set-up tools).

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use embudo_store::{StoreError, StoreResult};

use crate::map_err;

fn check_name(name: &str) -> StoreResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "database name {name:?} is not lowercase letters, digits and underscores"
        )))
    }
}

/// Creates database `name` on the server `server_url` points at (any database on it), and
/// returns a URL for the new database. With `icu_locale` (such as `en-US`), its default
/// collation is ICU's for that locale: text sorts by language rules unless a column says
/// otherwise, as in many a production server's database. The tests run on one, so that a
/// column that must compare byte for byte and does not say so shows.
pub async fn create_database(
    server_url: &str,
    name: &str,
    icu_locale: Option<&str>,
) -> StoreResult<String> {
    check_name(name)?;
    let mut sql = format!("CREATE DATABASE {name}");
    if let Some(locale) = icu_locale {
        let valid = !locale.is_empty()
            && locale
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(StoreError::Invalid(format!(
                "ICU locale {locale:?} is not letters, digits, '-' and '_'"
            )));
        }
        sql.push_str(&format!(
            " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{locale}'"
        ));
    }
    let mut connection = PgConnection::connect(server_url).await.map_err(map_err)?;
    sqlx::query(&sql)
        .execute(&mut connection)
        .await
        .map_err(map_err)?;
    let _ = connection.close().await;
    Ok(with_database(server_url, name))
}

/// Drops database `name`, ending its sessions first.
pub async fn drop_database(server_url: &str, name: &str) -> StoreResult<()> {
    check_name(name)?;
    let mut connection = PgConnection::connect(server_url).await.map_err(map_err)?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut connection)
        .await
        .map_err(map_err)?;
    let _ = connection.close().await;
    Ok(())
}

/// `server_url` with its database path replaced by `name` (query parameters kept).
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests;
