//! `/console/account`: "My account", for every signed-in user.
//!
//! - Name and e-mail address (`PATCH /api/v1/auth/me`; an address in use
//!   is the API's 409, shown on the form).
//! - The password: the current one and a new one, together
//!   (`PATCH /api/v1/auth/me`). A new password ends every session and token
//!   of the user, this console session included (the API moves the token
//!   version on), so the browser goes to the sign-in page, which says why.
//! - Two-factor sign-in (TOTP): whether it is on; enrolment
//!   (`POST /api/v1/auth/totp/enroll`) shows the secret in groups of four
//!   for typing and the `otpauth://` link for an authenticator app (no QR
//!   code: drawing one needs an encoder the workspace does not have), then
//!   a 6-digit code confirms it (`/confirm`); turning it off takes a current
//!   code (`/disable`). A wrong code is the API's 422, shown on the form;
//!   the secret comes back in the confirm form's hidden fields so that the
//!   form can be shown again with it.
//! - Sign out everywhere (the frame's action, offered here too).

use axum::extract::Query;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::identity::users::User;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api_client::ApiFailure;
use crate::layout;
use crate::pages::clients::{input, input_with, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/account";

/// `?done=` after a change: what the page confirms.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    done: String,
}

/// The name and e-mail form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFields {
    name: String,
    email: String,
}

/// The password form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordFields {
    current_password: String,
    new_password: String,
}

/// The enrolment's confirm form: the code, and the enrolment shown again
/// if the code is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmFields {
    code: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    otpauth_url: String,
}

/// The turn-off form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeFields {
    code: String,
}

/// The API's answer to an enrolment.
#[derive(Debug, Deserialize)]
struct Enrolment {
    secret: String,
    otpauth_url: String,
}

/// What the page shows besides the account as it is.
enum Shown {
    Plain,
    Profile(ProfileFields, ApiFailure),
    Password(ApiFailure),
    Enrolment(Enrolment, Option<ApiFailure>),
    /// A refused enrolment or turn-off (409, 422).
    Totp(ApiFailure),
}

impl Shown {
    fn status(&self) -> StatusCode {
        match self {
            Shown::Plain | Shown::Enrolment(_, None) => StatusCode::OK,
            Shown::Profile(_, f)
            | Shown::Password(f)
            | Shown::Enrolment(_, Some(f))
            | Shown::Totp(f) => f.status,
        }
    }
}

/// `ABCDEFGHIJ` as `ABCD EFGH IJ`, for typing.
fn grouped(secret: &str) -> String {
    secret
        .chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

fn done_notice(done: &str) -> Option<&'static str> {
    match done {
        "profile" => Some("Your name and e-mail address are saved."),
        "totp_on" => Some("Two-factor sign-in is on: sign-in now asks for a code."),
        "totp_off" => Some("Two-factor sign-in is off."),
        _ => None,
    }
}

/// A 6-digit code input with the API's problem (`code`) under it.
fn code_input(id: &str, problem: Option<&ApiFailure>) -> Markup {
    let message = problem.and_then(|f| f.field("code"));
    html! {
        label for=(id) { "Code from your authenticator app " span.hint { "(6 digits)" } }
        input id=(id) name="code" inputmode="numeric" autocomplete="one-time-code"
            pattern="[0-9 ]*" maxlength="7" required aria-invalid=[message.map(|_| "true")];
        @if let Some(m) = message { p.field-problem { (m) } }
    }
}

fn totp_section(c: &Console, user: &User, shown: &Shown) -> Markup {
    let refused = match shown {
        Shown::Totp(f) => Some(f),
        _ => None,
    };
    html! {
        section.card #totp aria-labelledby="totp-title" {
            h2 #totp-title { "Two-factor sign-in" }
            @if user.totp_enabled {
                p #totp-state { span.ok { "On." } " Sign-in asks for a code from your authenticator app." }
            } @else {
                p #totp-state { span.muted { "Off." } " Sign-in asks only for your password." }
            }
            @if let Some(f) = refused {
                p.problem #totp-problem role="alert" { (f.message) }
            }
            @match shown {
                Shown::Enrolment(e, f) => {
                    div #totp-enrolment {
                        p { "Add this account to your authenticator app: type the key, or open the link on the device that has the app." }
                        dl.figures {
                            dt { "Key" } dd { code #totp-secret { (grouped(&e.secret)) } }
                            @if e.otpauth_url.starts_with("otpauth://") {
                                dt { "Link" } dd { a #totp-link href=(e.otpauth_url) { "Add to an authenticator app" } }
                            }
                        }
                        p.muted { "No QR code is drawn: type the key if your app cannot open the link." }
                        form.stack #totp-confirm-form method="post" action={ (BASE) "/totp/confirm" } {
                            (layout::csrf_field(c.csrf()))
                            (refusal(f.as_ref()))
                            input type="hidden" name="secret" value=(e.secret);
                            input type="hidden" name="otpauth_url" value=(e.otpauth_url);
                            (code_input("f-confirm-code", f.as_ref()))
                            button type="submit" #totp-confirm { "Turn on two-factor sign-in" }
                        }
                    }
                }
                _ => {
                    @if user.totp_enabled {
                        form.stack #totp-disable-form method="post" action={ (BASE) "/totp/disable" } {
                            (layout::csrf_field(c.csrf()))
                            (code_input("f-disable-code", refused))
                            button type="submit" #totp-disable { "Turn off two-factor sign-in" }
                        }
                    } @else {
                        (layout::post_button(&format!("{BASE}/totp/enroll"), c.csrf(), "totp-enroll", "Set up two-factor sign-in"))
                    }
                }
            }
        }
    }
}

async fn page(c: &Console, p: &Params, shown: Shown) -> Result<Response, ApiFailure> {
    let user = &c.user;
    let (profile, profile_problem) = match &shown {
        Shown::Profile(f, e) => ((f.name.as_str(), f.email.as_str()), Some(e)),
        _ => ((user.name.as_str(), user.email.as_str()), None),
    };
    let password_problem = match &shown {
        Shown::Password(e) => Some(e),
        _ => None,
    };
    let body = html! {
        h1 { "My account" }
        @if let Some(n) = done_notice(&p.done) {
            p.notice #done role="status" { (n) }
        }
        div.grid {
            section.card #profile aria-labelledby="profile-title" {
                h2 #profile-title { "Name and e-mail" }
                p.muted { "You sign in with this e-mail address. Role: " (user.role.as_str()) "." }
                form.stack #profile-form method="post" action=(BASE) {
                    (layout::csrf_field(c.csrf()))
                    (refusal(profile_problem))
                    (input("Name", "name", "text", profile.0, profile_problem))
                    (input("E-mail", "email", "email", profile.1, profile_problem))
                    button type="submit" #save-profile { "Save" }
                }
            }
            section.card #password aria-labelledby="password-title" {
                h2 #password-title { "Password" }
                p.muted { "A new password signs you out everywhere, here too: sign in again with it." }
                form.stack #password-form method="post" action={ (BASE) "/password" } {
                    (layout::csrf_field(c.csrf()))
                    (refusal(password_problem))
                    (input_with("Current password", "current_password", "password", "", password_problem, Some("current-password")))
                    (input_with("New password (at least 12 characters)", "new_password", "password", "", password_problem, Some("new-password")))
                    button type="submit" #change-password { "Change password" }
                }
            }
            (totp_section(c, user, &shown))
            section.card #sessions aria-labelledby="sessions-title" {
                h2 #sessions-title { "Sessions" }
                p.muted { "Ends every session and API token of yours, on every device, this one included." }
                (layout::post_button("/console/logout-everywhere", c.csrf(), "account-sign-out-everywhere", "Sign out everywhere"))
            }
        }
    };
    Ok(c.page_with(shown.status(), None, "My account", body))
}

/// `GET /console/account`.
pub async fn show(c: Console, Query(p): Query<Params>) -> Result<Response, ApiFailure> {
    page(&c, &p, Shown::Plain).await
}

/// `POST /console/account`: name and e-mail.
pub async fn update_profile(
    c: Console,
    Form(f): Form<ProfileFields>,
) -> Result<Response, ApiFailure> {
    let mut body = Map::new();
    if f.name != c.user.name {
        body.insert("name".into(), json!(f.name));
    }
    if f.email.trim() != c.user.email {
        body.insert("email".into(), json!(f.email.trim()));
    }
    match c
        .api
        .send::<User>(Method::PATCH, "/api/v1/auth/me", &Value::Object(body))
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}?done=profile"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            page(&c, &Params::default(), Shown::Profile(f, e)).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/account/password`: a new password; every session ends,
/// and the sign-in page says why.
pub async fn change_password(
    c: Console,
    Form(f): Form<PasswordFields>,
) -> Result<Response, ApiFailure> {
    let body = json!({"current_password": f.current_password, "new_password": f.new_password});
    match c
        .api
        .send::<User>(Method::PATCH, "/api/v1/auth/me", &body)
        .await
    {
        Ok(_) => Ok(crate::session::to_login_ending_session_saying(
            crate::session::LoginNotice::PasswordChanged,
        )),
        Err(e) if e.is_validation() || e.status == StatusCode::TOO_MANY_REQUESTS => {
            page(&c, &Params::default(), Shown::Password(e)).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/account/totp/enroll`: a new secret, shown with the form
/// that confirms it.
pub async fn totp_enroll(
    c: Console,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let shown = match c
        .api
        .send_empty::<Enrolment>(Method::POST, "/api/v1/auth/totp/enroll")
        .await
    {
        Ok(e) => Shown::Enrolment(e, None),
        Err(e) if e.status == StatusCode::CONFLICT => Shown::Totp(e),
        Err(e) => return Err(e),
    };
    page(&c, &Params::default(), shown).await
}

/// `POST /api/v1/auth/totp/{action}` with `code` as typed, spaces left out.
async fn send_code(c: &Console, action: &str, code: &str) -> Result<(), ApiFailure> {
    let code = code.replace(' ', "");
    c.api
        .send(
            Method::POST,
            format!("/api/v1/auth/totp/{action}"),
            &json!({"code": code}),
        )
        .await
}

/// `POST /console/account/totp/confirm`.
pub async fn totp_confirm(
    c: Console,
    Form(f): Form<ConfirmFields>,
) -> Result<Response, ApiFailure> {
    match send_code(&c, "confirm", &f.code).await {
        Ok(()) => Ok(see_other(&format!("{BASE}?done=totp_on#totp"))),
        Err(e) if e.is_validation() && !f.secret.is_empty() => {
            let again = Enrolment {
                secret: f.secret,
                otpauth_url: f.otpauth_url,
            };
            page(&c, &Params::default(), Shown::Enrolment(again, Some(e))).await
        }
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            page(&c, &Params::default(), Shown::Totp(e)).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/account/totp/disable`.
pub async fn totp_disable(c: Console, Form(f): Form<CodeFields>) -> Result<Response, ApiFailure> {
    match send_code(&c, "disable", &f.code).await {
        Ok(()) => Ok(see_other(&format!("{BASE}?done=totp_off#totp"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            page(&c, &Params::default(), Shown::Totp(e)).await
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_grouped_by_four() {
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
        assert_eq!(grouped("ABCD"), "ABCD");
        assert_eq!(grouped(""), "");
    }
}
