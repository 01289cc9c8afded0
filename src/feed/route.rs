//! PURE: where a FeedSource's feed is settled: in buun-curator, through its API, or nowhere
//! (`feed.id` is taken as it is). One rule for the controller and `sync`.

/// Where the feed is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// In buun-curator, through its API: found by `feed.id`, adopted by URL, or created, and
    /// kept in line with the spec.
    Register,
    /// Nowhere: the feed is `feed.id`, not checked.
    Unchecked(&'a str),
}

/// Why a feed has nowhere to be settled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoRoute {
    /// No `feed.id`, and no API to register the feed with.
    #[error(
        "feed.id is not set, and there is no buun-curator API to register the feed with; set feed.id, or the CuratorWorker's spec.curatorApi"
    )]
    NoApi,
    /// No `feed.id`, and an API but no token for it.
    #[error(
        "feed.id is not set, and INTERNAL_API_TOKEN is not set for buun-curator's API at {0} to register the feed with; set feed.id, or the token"
    )]
    NoToken(String),
}

/// PURE: the route of a feed whose `feed.id` is `id`, given the API at hand (its URL, and
/// whether its token is known): with an API and its token the feed is registered there (a set
/// `feed.id` is checked); without, `feed.id` is required.
pub fn route<'a>(id: Option<&'a str>, api: Option<(&'a str, bool)>) -> Result<Route<'a>, NoRoute> {
    match (api, id) {
        (Some((_, true)), _) => Ok(Route::Register),
        (_, Some(id)) => Ok(Route::Unchecked(id)),
        (Some((url, false)), None) => Err(NoRoute::NoToken(url.to_owned())),
        (None, None) => Err(NoRoute::NoApi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_registers_and_feed_id_alone_is_taken_as_it_is() {
        let api = Some(("http://c", true));
        assert_eq!(route(None, api), Ok(Route::Register));
        assert_eq!(route(Some("f1"), api), Ok(Route::Register));
        assert_eq!(route(Some("f1"), None), Ok(Route::Unchecked("f1")));
        assert_eq!(
            route(Some("f1"), Some(("http://c", false))),
            Ok(Route::Unchecked("f1")),
            "no token: the ID is used unchecked"
        );
        assert_eq!(
            route(None, Some(("http://c", false))),
            Err(NoRoute::NoToken("http://c".into()))
        );
        let none = route(None, None).expect_err("no route");
        assert!(none.to_string().starts_with("feed.id is not set"), "{none}");
    }
}
