// Copy the C headers that wasmtime-c-api-impl generated (with a conf.h that
// matches the enabled features) to a place the CMake build can find.
fn main() {
    let inc = std::env::var("DEP_WASMTIME_C_API_INCLUDE")
        .expect("wasmtime-c-api-impl did not export its include dir");
    let out = std::env::var("ERYX_WASMTIME_HEADERS_OUT").ok();
    println!("cargo:rerun-if-env-changed=ERYX_WASMTIME_HEADERS_OUT");
    if let Some(out) = out {
        copy_dir(std::path::Path::new(&inc), std::path::Path::new(&out));
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}
