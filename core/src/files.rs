//! Images uploaded as data URLs (`data:image/png;base64,…`): profile images of users, teams
//! and team members are stored in the database and replaced by a public URL,
//! `<storage URL>/<bucket>/<id>.<ext>`, which the API serves at `GET /storage/<bucket>/<file>`
//! (or a CDN / proxy in front of it, see [`crate::PosternBuilder::storage_url`]).

use base64::Engine;
use uuid::Uuid;

use crate::error::{Error, Refusal, Result};
use crate::postern::Postern;
use crate::storage::{FileRecord, Repos};

/// Largest image accepted, in bytes (as Stack).
pub const MAX_IMAGE_BYTES: usize = 1_000_000;

/// Bucket of user profile images.
pub const USER_IMAGES: &str = "user-profile-images";
/// Bucket of team profile images.
pub const TEAM_IMAGES: &str = "team-profile-images";
/// Bucket of team member profile images.
pub const MEMBER_IMAGES: &str = "team-member-profile-images";

/// The type and bytes of an image data URL, if `url` is one.
///
/// ```
/// use postern_core::files::parse_image_data_url;
/// let (ext, mime, bytes) = parse_image_data_url("data:image/gif;base64,R0lGODlhAQABAAAAACw=").unwrap();
/// assert_eq!((ext, mime), ("gif", "image/gif"));
/// assert_eq!(&bytes[..3], b"GIF");
/// assert!(parse_image_data_url("https://example.com/a.png").is_none());
/// assert!(parse_image_data_url("data:text/html;base64,PHA+").is_none());
/// ```
pub fn parse_image_data_url(url: &str) -> Option<(&'static str, &'static str, Vec<u8>)> {
    let rest = url.strip_prefix("data:image/")?;
    let (fmt, b64) = rest.split_once(";base64,")?;
    let (ext, mime) = match fmt.to_ascii_lowercase().as_str() {
        "png" => ("png", "image/png"),
        "jpg" | "jpeg" => ("jpg", "image/jpeg"),
        "gif" => ("gif", "image/gif"),
        "bmp" => ("bmp", "image/bmp"),
        "webp" => ("webp", "image/webp"),
        _ => return None,
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((ext, mime, bytes))
}

/// If `url` is an image data URL, stores the image through `repos` and returns its public
/// URL; `current` (the value being replaced) and other URLs come back unchanged, except a
/// URL of another stored file, which is refused.
pub(crate) async fn store_if_data_url(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    bucket: &str,
    url: Option<String>,
    current: Option<&str>,
) -> Result<Option<String>> {
    let Some(url) = url else { return Ok(None) };
    if current == Some(url.as_str()) {
        return Ok(Some(url));
    }
    if !url.starts_with("data:") {
        // A URL of a stored file is only ever the one an upload answered: naming another
        // entity's file would let a later replacement delete it.
        if url.starts_with(&format!("{}/", p.inner.storage_url)) {
            return Err(Error::Refused(Refusal::InvalidProfileImageUrl));
        }
        return Ok(Some(url));
    }
    let (ext, mime, data) =
        parse_image_data_url(&url).ok_or(Error::Refused(Refusal::InvalidProfileImageUrl))?;
    if data.len() > MAX_IMAGE_BYTES {
        return Err(Error::Refused(Refusal::ImageTooLarge));
    }
    let id = Uuid::new_v4();
    repos
        .files()
        .insert(&FileRecord {
            project_id: project_id.to_owned(),
            id,
            bucket: bucket.to_owned(),
            content_type: mime.to_owned(),
            data,
            created_at_millis: p.inner.clock.now_millis(),
        })
        .await?;
    Ok(Some(format!("{}/{bucket}/{id}.{ext}", p.inner.storage_url)))
}

/// If `url` is the public URL of a file Postern stores in `bucket`
/// (`<storage URL>/<bucket>/<id>.<ext>`), deletes the file through `repos` (the project's
/// own files of that bucket only): a replaced or orphaned profile image is not served any
/// more. Other URLs are left alone.
pub(crate) async fn delete_if_stored(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    bucket: &str,
    url: Option<&str>,
) -> Result<()> {
    let Some(rest) = url.and_then(|u| u.strip_prefix(p.inner.storage_url.as_str())) else {
        return Ok(());
    };
    let Some(file) = rest
        .strip_prefix('/')
        .and_then(|r| r.strip_prefix(bucket))
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Ok(());
    };
    if let Some(id) = file
        .split_once('.')
        .and_then(|(id, _)| Uuid::parse_str(id).ok())
    {
        repos.files().delete(project_id, bucket, id).await?;
    }
    Ok(())
}

impl Postern {
    /// A stored file by bucket and file name (`<id>.<ext>`): its MIME type and bytes.
    pub async fn file(&self, bucket: &str, name: &str) -> Result<Option<(String, Vec<u8>)>> {
        let Some(id) = name
            .split_once('.')
            .map(|(id, _)| id)
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            return Ok(None);
        };
        Ok(self
            .inner
            .store
            .files()
            .get(bucket, id)
            .await?
            .map(|f| (f.content_type, f.data)))
    }
}
