//! Build script: records the git revision that `--version` prints (scripts/git_revision.rs).

include!("../scripts/git_revision.rs");

fn main() {
    emit_git_revision();
}
