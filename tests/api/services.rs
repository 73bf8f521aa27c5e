//! Services and virtual goods (issue 16): the contract's terms per country, the default end
//! date, service products in the seQura cart, refunds of a service, digital-only carts.

use sequra_bc_sandbox::sequra::{DEMO_MERCHANT_ES, SERVICES_MERCHANT, SERVICES_USERNAME};

use crate::helpers::*;

/// A store selling in Spain with the services account.
async fn services_store(app: &TestApp, hash: &str) -> String {
    let session = app.merchant_session(hash).await;
    app.connect_sandbox(&session, SERVICES_USERNAME).await;
    let resp = app
        .post_form(
            "/app/countries",
            &session,
            &[("country", "ES"), ("ref_ES", SERVICES_MERCHANT)],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    session
}

fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {html}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

#[tokio::test]
async fn the_general_page_shows_each_countrys_contract_terms_and_keeps_a_valid_end_date() {
    let app = spawn_app().await;
    let session = services_store(&app, "svc1").await;
    let (status, html) = app.page("/app/general", &session).await;
    assert_eq!(status, 200);
    let es = row(&html, "services-ES");
    assert!(es.contains(SERVICES_MERCHANT), "{es}");
    assert_eq!(es.matches("Allowed").count(), 3, "{es}");
    assert!(
        html.contains("sequra_registration_amount"),
        "the fields are documented"
    );
    assert!(
        html.contains("value=\"P1Y\""),
        "the default end date is P1Y"
    );

    // A demo store's contract has no services.
    let demo = app.spanish_store("svc2").await;
    let (_, html) = app.page("/app/general", &demo).await;
    let es = row(&html, "services-ES");
    assert!(es.contains(DEMO_MERCHANT_ES), "{es}");
    assert_eq!(es.matches("Not allowed").count(), 3, "{es}");

    for bad in ["P", "1Y", "2027-02-30", "P1Y junk", "PT1D"] {
        let resp = app
            .post_form(
                "/app/general",
                &session,
                &[("allowed_ips", ""), ("services_end_date", bad)],
            )
            .await;
        assert_eq!(resp.status(), 422, "{bad}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("id=\"services_end_date-error\""),
            "{bad}: {html}"
        );
        assert!(html.contains("Enter an ISO 8601 date"), "{html}");
    }
    assert_eq!(app.count("SELECT count(*) FROM general_settings"), 0);
    for (good, stored) in [("2027-06-30", "2027-06-30"), (" P6M ", "P6M"), ("", "P1Y")] {
        let resp = app
            .post_form(
                "/app/general",
                &session,
                &[("allowed_ips", ""), ("services_end_date", good)],
            )
            .await;
        assert_eq!(resp.status(), 303, "{good}");
        let saved: String = app.query("SELECT services_end_date FROM general_settings", |r| {
            r.get(0)
        });
        assert_eq!(saved, stored);
    }
}
