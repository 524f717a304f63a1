//! Points the runtime linker at libtorch (cargo ignores LD_LIBRARY_PATH set in
//! its config for run and test), and compiles the C++ glue of the fused ops
//! against libtorch's headers.

fn main() {
    println!("cargo:rerun-if-changed=csrc/autograd_ops.cpp");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB)");
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    let include = std::path::Path::new(&lib).join("../include");
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!(
            "-D_GLIBCXX_USE_CXX11_ABI={}",
            std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into())
        ))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/autograd_ops.cpp")
        .compile("plumb_autograd_ops");
}
