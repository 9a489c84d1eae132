//! Adding, editing, pausing, resuming and deleting targets from the dashboard: plain HTML
//! forms that work without JavaScript, each with an anti-forgery token (`web::csrf`), all
//! through the registry's editor. A success answers 303 to the page to see next (the
//! target's, or the overview after a delete); a form with errors comes back with what was
//! typed and each error next to its field.
//!
//! Targets of the configuration (the file, `PROBE_URLS`) change only there: their page says
//! where they come from and offers pause and resume only. Without an editor (`serve --store`,
//! read-only) no form is shown and a post answers 405.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::target_form::{FIELDS, FormInput, field_of};
use super::{Frame, message_page, render, target_href};
use crate::registry::edit::{EditError, Editor, FieldError};
use crate::registry::{Entry, Source};
use crate::store::now_micros;
use crate::web::AppState;
use crate::web::csrf::{self, Refused};

const READ_ONLY: &str = "This dashboard serves a store read-only (uptimer serve --store): \
                         targets are changed in the uptimer serve that probes them.";
const NEEDS_AUTH: &str = "Changing targets from the dashboard needs its credentials \
                          (set WEB_AUTH_TOKEN or WEB_AUTH_BASIC), or a browser on this machine \
                          opening it as http://127.0.0.1:… or http://localhost:….";

/// The page to answer instead of going on (boxed: a response is large next to what succeeds).
type Instead = Box<Response>;

/// Where a target comes from, in words, and where it changes.
pub(super) fn source_note(source: Source) -> &'static str {
    match source {
        Source::File => {
            "Defined in the config file: change it there (the file is reloaded when it changes)."
        }
        Source::Env => "Defined by PROBE_URLS: change it there and reload (SIGHUP).",
        Source::Api => "Added through the dashboard or the API.",
        Source::Fleet => {
            "Published to the fleet's targets topic: change it where it was published (uptimer publish)."
        }
    }
}

/// What a target's page offers: its source, and the forms this browser may use.
pub(super) struct Actions {
    pub source: &'static str,
    pub paused: bool,
    /// The forms are shown: the process can change targets and this browser may post.
    pub forms: bool,
    /// Why no form is shown although the process could change targets (empty: none).
    pub note: &'static str,
    /// Edit and delete are offered (a target of the API).
    pub writable: bool,
    pub edit_href: String,
    pub delete_href: String,
    /// Pause or resume, whichever applies: where it posts and its token.
    pub toggle_action: String,
    pub toggle_csrf: String,
}

pub(super) fn actions(s: &AppState, entry: &Entry, headers: &HeaderMap) -> Actions {
    let id = &entry.target.id;
    let href = target_href(id);
    let may = csrf::may_post(s.auth.as_ref(), s.listen_loopback, headers);
    let toggle = if entry.paused { "resume" } else { "pause" };
    Actions {
        source: source_note(entry.target.source),
        paused: entry.paused,
        forms: s.editor.is_some() && may,
        note: if s.editor.is_some() && !may {
            NEEDS_AUTH
        } else {
            ""
        },
        writable: entry.target.source.is_api(),
        edit_href: format!("{href}/edit"),
        delete_href: format!("{href}/delete"),
        toggle_action: format!("{href}/{toggle}"),
        toggle_csrf: csrf::token(&format!("{toggle}:{id}")),
    }
}

/// One simple field as the form shows it.
struct FieldView {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    placeholder: &'static str,
    value: String,
    error: String,
    required: bool,
}

#[derive(Template)]
#[template(path = "target_form.html")]
struct FormPage {
    frame: Frame,
    title: String,
    /// The target's name and page when editing (empty: adding).
    target: Option<(String, String)>,
    action: String,
    csrf: String,
    fields: Vec<FieldView>,
    advanced: String,
    advanced_error: String,
    /// An error about the whole form.
    general: String,
    submit: &'static str,
    cancel: String,
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
struct ConfirmPage {
    frame: Frame,
    name: String,
    url: String,
    href: String,
    action: String,
    csrf: String,
}

/// Which form: adding a target, or editing one (its id and name).
enum Form {
    Create,
    Edit { id: String, name: String },
}

impl Form {
    /// What its token is bound to, and where it posts.
    fn action(&self) -> (String, String) {
        match self {
            Form::Create => ("create".into(), "/targets".into()),
            Form::Edit { id, .. } => (format!("edit:{id}"), format!("{}/edit", target_href(id))),
        }
    }
}

/// The form page with `input` and `errors` (by the editor's setting names), answered with
/// `status`.
fn form_page(
    s: &AppState,
    status: StatusCode,
    form: &Form,
    input: &FormInput,
    errors: &[FieldError],
    general: &str,
) -> Response {
    let (token_action, action) = form.action();
    let advanced_given = !input.advanced.trim().is_empty();
    let mut general = general.to_owned();
    let by_field = |field: &str| -> String {
        errors
            .iter()
            .filter(|e| field_of(&e.field, advanced_given) == field)
            .map(|e| match e.field.as_str() {
                // Named when the field holds several settings.
                f if field == "advanced" && !f.is_empty() && f != "advanced" => {
                    format!("{f}: {}", e.message)
                }
                _ => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let whole = by_field("");
    if !whole.is_empty() {
        general = if general.is_empty() {
            whole
        } else {
            format!("{general} {whole}")
        };
    }
    let fields = FIELDS
        .iter()
        .zip(&input.values)
        .map(|(&(name, label, hint, placeholder), value)| FieldView {
            name,
            label,
            hint,
            placeholder,
            value: value.clone(),
            error: by_field(name),
            required: name == "url",
        })
        .collect();
    let (title, target, submit, cancel) = match form {
        Form::Create => ("Add target".to_owned(), None, "Add target", "/".to_owned()),
        Form::Edit { id, name } => (
            format!("Edit {name}"),
            Some((name.clone(), target_href(id))),
            "Save",
            target_href(id),
        ),
    };
    let mut frame = Frame::new(s, "", now_micros());
    // Refreshing in place would lose what is being typed.
    frame.refresh = 0;
    let page = FormPage {
        frame,
        title,
        target,
        csrf: csrf::token(&token_action),
        action,
        fields,
        advanced: input.advanced.clone(),
        advanced_error: by_field("advanced"),
        general,
        submit,
        cancel,
    };
    match render(&page) {
        Ok(mut r) => {
            *r.status_mut() = status;
            r
        }
        Err(e) => super::error_page(s, e),
    }
}

/// The editor, when this request may change targets; else the answer to give.
fn editor<'a>(
    s: &'a AppState,
    headers: &HeaderMap,
    allow: &'static str,
) -> Result<&'a Arc<Editor>, Instead> {
    let Some(editor) = s.editor.as_ref() else {
        let mut r = message_page(
            s,
            StatusCode::METHOD_NOT_ALLOWED,
            "Read-only",
            READ_ONLY.into(),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return Err(Box::new(r));
    };
    if !csrf::may_post(s.auth.as_ref(), s.listen_loopback, headers) {
        return Err(Box::new(message_page(
            s,
            StatusCode::FORBIDDEN,
            "Forbidden",
            NEEDS_AUTH.into(),
        )));
    }
    Ok(editor)
}

/// For the pages that show a form: the editor, or the page to show instead (read-only: 404).
fn editor_for_page<'a>(s: &'a AppState, headers: &HeaderMap) -> Result<&'a Arc<Editor>, Instead> {
    if s.editor.is_none() {
        return Err(Box::new(message_page(
            s,
            StatusCode::NOT_FOUND,
            "Read-only",
            READ_ONLY.into(),
        )));
    }
    editor(s, headers, "GET, HEAD")
}

pub(super) fn refused_message(r: Refused) -> &'static str {
    match r {
        Refused::Invalid => {
            "This form did not come from this dashboard, or the server restarted since it was \
             shown: nothing was changed. Check the values and send it again."
        }
        Refused::Expired => {
            "This form was shown more than 12 hours ago: nothing was changed. Check the values \
             and send it again."
        }
    }
}

/// The answer to a refused change that is not about a field.
fn edit_error(s: &AppState, e: EditError) -> Response {
    let (status, title) = match &e {
        EditError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        EditError::ReadOnly { .. } | EditError::Clash(_) => (StatusCode::CONFLICT, "Conflict"),
        EditError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid target"),
        EditError::Save(err) => {
            tracing::error!(error = %err, "dashboard: saving a target change failed");
            return message_page(
                s,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The change could not be saved, so nothing changed; see the server log.".into(),
            );
        }
    };
    let message = match &e {
        EditError::ReadOnly { defined_in, .. } => source_note(*defined_in).to_owned(),
        _ => e.to_string(),
    };
    message_page(s, status, title, message)
}

fn see(href: &str) -> Response {
    Redirect::to(href).into_response()
}

/// The registry's entry of `id`, or the 404 page.
fn entry(s: &AppState, editor: &Editor, id: &str) -> Result<Arc<Entry>, Instead> {
    editor.registry().get(id).ok_or_else(|| {
        Box::new(message_page(
            s,
            StatusCode::NOT_FOUND,
            "Not found",
            format!("no target with id {id:?}"),
        ))
    })
}

/// An entry the dashboard may edit and delete: one of the API's.
fn writable(s: &AppState, editor: &Editor, id: &str) -> Result<Arc<Entry>, Instead> {
    let e = entry(s, editor, id)?;
    if !e.target.source.is_api() {
        return Err(Box::new(message_page(
            s,
            StatusCode::CONFLICT,
            "Read-only target",
            source_note(e.target.source).into(),
        )));
    }
    Ok(e)
}

/// The editor and the entry of `id` when the dashboard may change that target, or the page to
/// show instead.
fn editable<'a>(
    s: &AppState,
    editor: Result<&'a Arc<Editor>, Instead>,
    id: &str,
) -> Result<(&'a Arc<Editor>, Arc<Entry>), Instead> {
    let editor = editor?;
    Ok((editor, writable(s, editor, id)?))
}

/// `GET /targets/new`: the empty form.
pub async fn new_target(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = editor_for_page(&s, &headers) {
        return *r;
    }
    form_page(
        &s,
        StatusCode::OK,
        &Form::Create,
        &FormInput::default(),
        &[],
        "",
    )
}

/// `POST /targets`: adds the target and shows its page.
pub async fn create_target(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let editor = match editor(&s, &headers, "") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let input = FormInput::parse(&body);
    let form = Form::Create;
    if let Err(r) = csrf::check(&form.action().0, &input.csrf) {
        return form_page(
            &s,
            StatusCode::FORBIDDEN,
            &form,
            &input,
            &[],
            refused_message(r),
        );
    }
    let target = match input.to_body(None) {
        Ok(t) => t,
        Err(errors) => {
            return form_page(
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &input,
                &errors,
                "",
            );
        }
    };
    match editor.create(&target) {
        Ok(entry) => see(&target_href(&entry.target.id)),
        Err(EditError::Invalid(errors)) => form_page(
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &input,
            &errors,
            "",
        ),
        Err(EditError::Clash(id)) => {
            let errors = [FieldError {
                field: "id".into(),
                message: format!("a target with id {id:?} exists already"),
            }];
            form_page(&s, StatusCode::CONFLICT, &form, &input, &errors, "")
        }
        Err(e) => edit_error(&s, e),
    }
}

/// `GET /targets/{id}/edit`: the form with the target as it was given.
pub async fn edit_target(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (editor, entry) = match editable(&s, editor_for_page(&s, &headers), &id) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let Some(body) = editor.body(&id) else {
        return edit_error(&s, EditError::NotFound(id));
    };
    let form = Form::Edit {
        id,
        name: entry.target.name.clone(),
    };
    form_page(
        &s,
        StatusCode::OK,
        &form,
        &FormInput::of_body(&body),
        &[],
        "",
    )
}

/// `POST /targets/{id}/edit`: replaces the target with what the form says.
pub async fn update_target(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (editor, entry) = match editable(&s, editor(&s, &headers, "GET, HEAD"), &id) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let input = FormInput::parse(&body);
    let form = Form::Edit {
        id: id.clone(),
        name: entry.target.name.clone(),
    };
    if let Err(r) = csrf::check(&form.action().0, &input.csrf) {
        return form_page(
            &s,
            StatusCode::FORBIDDEN,
            &form,
            &input,
            &[],
            refused_message(r),
        );
    }
    let saved = editor.body(&id);
    let target = match input.to_body(saved.as_ref()) {
        Ok(t) => t,
        Err(errors) => {
            return form_page(
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &input,
                &errors,
                "",
            );
        }
    };
    match editor.replace(&id, &target) {
        Ok(entry) => see(&target_href(&entry.target.id)),
        Err(EditError::Invalid(errors)) => form_page(
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &input,
            &errors,
            "",
        ),
        Err(e) => edit_error(&s, e),
    }
}

/// `POST /targets/{id}/pause`.
pub async fn pause_target(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_paused(&s, &id, &headers, &body, true)
}

/// `POST /targets/{id}/resume`.
pub async fn resume_target(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_paused(&s, &id, &headers, &body, false)
}

fn set_paused(s: &AppState, id: &str, headers: &HeaderMap, body: &[u8], paused: bool) -> Response {
    let editor = match editor(s, headers, "") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let action = if paused { "pause" } else { "resume" };
    if let Err(r) = csrf::check(&format!("{action}:{id}"), &FormInput::parse(body).csrf) {
        return message_page(
            s,
            StatusCode::FORBIDDEN,
            "Forbidden",
            refused_message(r).into(),
        );
    }
    match editor.set_paused(id, paused) {
        Ok(_) => see(&target_href(id)),
        Err(e) => edit_error(s, e),
    }
}

/// `GET /targets/{id}/delete`: asks before deleting.
pub async fn confirm_delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (_, entry) = match editable(&s, editor_for_page(&s, &headers), &id) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let href = target_href(&id);
    let mut frame = Frame::new(&s, "", now_micros());
    frame.refresh = 0;
    let page = ConfirmPage {
        frame,
        name: entry.target.name.clone(),
        url: crate::config::target::masked_url(&entry.target.url),
        action: format!("{href}/delete"),
        href,
        csrf: csrf::token(&format!("delete:{id}")),
    };
    render(&page).unwrap_or_else(|e| super::error_page(&s, e))
}

/// `POST /targets/{id}/delete`: removes the target (its history stays) and shows the overview.
pub async fn delete_target(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let editor = match editable(&s, editor(&s, &headers, "GET, HEAD"), &id) {
        Ok((editor, _)) => editor,
        Err(r) => return *r,
    };
    if let Err(r) = csrf::check(&format!("delete:{id}"), &FormInput::parse(&body).csrf) {
        return message_page(
            &s,
            StatusCode::FORBIDDEN,
            "Forbidden",
            refused_message(r).into(),
        );
    }
    match editor.delete(&id) {
        Ok(_) => see("/"),
        Err(e) => edit_error(&s, e),
    }
}
