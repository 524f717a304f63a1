//! Points the runtime linker at libtorch: cargo ignores LD_LIBRARY_PATH set in its config for run and test.

fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
