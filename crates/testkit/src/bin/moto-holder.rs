//! Test support for the test kit's own cleanup tests: starts the shared moto
//! server (held in a `static`, never dropped), prints its port, then ends the
//! way its argument says — `exit` (returns from `main`), `panic`, or `wait`
//! (blocks until it is killed). The moto server must not outlive it.

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let Some(moto) = terrace_testkit::shared_moto() else {
        eprintln!("moto-holder: moto not available");
        std::process::exit(3);
    };
    println!("{}", moto.port);
    match mode.as_str() {
        "exit" => {}
        "panic" => panic!("moto-holder: panicking with a moto server running"),
        "wait" => loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        },
        other => {
            eprintln!("moto-holder: unknown mode {other:?} (exit, panic or wait)");
            std::process::exit(2);
        }
    }
}
