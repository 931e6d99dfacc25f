//! Offline HTML reports: a run's page (charts drawn as inline SVG with plotters, the event
//! timeline, every finding in words) and a sweep's summary page.
