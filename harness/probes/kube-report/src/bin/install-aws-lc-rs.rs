//! kube-rs issue 1562, the reporter's fix: install aws-lc-rs as rustls' process-default
//! CryptoProvider first, then do what the program always did (KUBECONFIG -> list pods).
//! Nothing here is harness code: this is the user's program (../../README.md).

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

#[tokio::main]
async fn main() -> eyre::Result<()> {
    // As the report did: a second install can only fail if something installed a provider
    // before main, so a failure here is a bug worth a panic, not an error to pass on.
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .expect("Failed to install rustls crypto provider");
    let cfg = kube::Config::infer().await?;
    let client: kube::Client = cfg.try_into()?;
    let pods: Api<Pod> = Api::default_namespaced(client);
    println!("found {} pods", pods.list(&ListParams::default()).await?.items.len());
    Ok(())
}
