//! What can be wrong with a dataset file, from reading it to what its rows hold.

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("data.path: cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "data.path: {path} {at}: {reason}; give a Parquet file, JSON Lines or a JSON list of objects"
    )]
    Json {
        path: String,
        at: String,
        reason: String,
    },
    #[error(
        "data.path: {path} row {row}: column {column:?} {problem}; data.type {data_type} reads {reads}"
    )]
    Column {
        path: String,
        row: usize,
        column: String,
        problem: &'static str,
        data_type: &'static str,
        reads: &'static str,
    },
    #[error(
        "data.path: {path} row {row}: column {column:?} is {value:?}, not an http(s) URL: an image without bytes is sent as a URL for the model server to fetch, and it cannot read the runner's files; give the image's bytes instead (\"bytes\", base64 in JSON), or an http(s) URL the model server can reach"
    )]
    ImagePath {
        path: String,
        row: usize,
        column: String,
        value: String,
    },
    #[error(
        "data.path: no row of {path} has a prompt and an answer within the length limits of data.input_distribution/output_distribution"
    )]
    Empty { path: String },
    #[error(
        "data.path: no row of {path} has a user prompt and an image (PNG, JPEG or WebP bytes, or an http(s) URL) among its first data.visionarena.max_images_per_request; data.type visionarena reads {reads}"
    )]
    NoImageRows { path: String, reads: &'static str },
}
