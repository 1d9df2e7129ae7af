//! The test OpenID Connect provider (`postern_tests::oidc_provider`) as a process, for the
//! browser tests: `oidc-provider <client id> <client secret> <redirect URI>...` prints its
//! issuer URL on the first line of stdout and serves until killed. Every sign-in logs in a
//! fresh account with a verified address.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: oidc-provider <client id> <client secret> <redirect URI>...");
        std::process::exit(2);
    }
    let provider = postern_tests::oidc_provider::OidcProvider::start();
    let uris: Vec<&str> = args[2..].iter().map(String::as_str).collect();
    provider.register_client(&args[0], &args[1], &uris);
    println!("{}", provider.issuer());
    loop {
        std::thread::park();
    }
}
