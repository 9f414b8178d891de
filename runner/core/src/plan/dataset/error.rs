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
        "data.path: no row of {path} has a prompt and an answer within the length limits of data.input_distribution/output_distribution"
    )]
    Empty { path: String },
    #[error(
        "data.path: no row of {path} has a user prompt and a PNG, JPEG or WebP image among its first data.visionarena.max_images_per_request; data.type visionarena reads {reads}"
    )]
    NoImageRows { path: String, reads: &'static str },
    /// Not an error: the reader has all the rows it wants and stops reading.
    #[error("enough rows")]
    Enough,
}
