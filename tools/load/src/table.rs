//! The printed table: a row per measure of each scenario that ran.

use crate::stats::Percentiles;

#[derive(Default)]
pub struct Table {
    rows: Vec<(String, String, String)>,
}

impl Table {
    fn row(&mut self, scenario: &str, measure: &str, value: String) {
        self.rows.push((scenario.into(), measure.into(), value));
    }

    pub fn fanout(&mut self, ours: &crate::scenarios::FanOut, minimal: &crate::scenarios::FanOut, fraction: f64) {
        for (name, run) in [("fan-out (gif-chat)", ours), ("fan-out (minimal)", minimal)] {
            self.row(name, "receivers", run.receivers.to_string());
            self.row(name, "sends/s", format!("{:.0}", run.sends_per_sec));
            self.row(name, "deliveries/s", format!("{:.0}", run.deliveries_per_sec));
            self.row(name, "latency p50/p99/max", latency(&run.latency));
            self.row(name, "delivered/expected", format!("{}/{}", run.delivered, run.expected));
        }
        self.row("fan-out", "gif-chat / minimal", format!("{fraction:.2}"));
    }

    pub fn fanout_at_rates(&mut self, runs: &[crate::scenarios::OpenLoop]) {
        for run in runs {
            let name = format!("fan-out at {}/s (open loop)", run.rate);
            self.row(&name, "receivers", run.fanout.receivers.to_string());
            self.row(&name, "deliveries/s", format!("{:.0}", run.fanout.deliveries_per_sec));
            self.row(&name, "due→deliver p50/p99/max", latency(&run.fanout.latency));
            self.row(&name, "delivered/expected", format!("{}/{}", run.fanout.delivered, run.fanout.expected));
            self.row(&name, "minimal: due→deliver p50/p99/max", latency(&run.minimal.latency));
            self.row(
                &name,
                "minimal: delivered/expected",
                format!("{}/{}", run.minimal.delivered, run.minimal.expected),
            );
        }
    }

    pub fn chat(&mut self, run: &crate::scenarios::ChatLike) {
        let name = "chat-like";
        self.row(name, "rooms × people", format!("{} × {}", run.rooms, run.people_per_room));
        self.row(name, "messages sent (acked)", run.acknowledged.to_string());
        self.row(name, "latency p50/p99/max", latency(&run.latency));
        self.row(name, "server CPU", format!("{:.0}% of one core", run.server_cpu_percent));
        self.row(name, "missing / duplicated", format!("{} / {}", run.missing, run.duplicated));
    }

    pub fn reactions(&mut self, run: &crate::reactions::ReactionLoad) {
        let name = "reactions";
        self.row(name, "receivers", run.receivers.to_string());
        self.row(name, "messages/s, reactions/s", format!("{}, {}", run.messages_per_sec, run.reactions_per_sec));
        for (label, part) in [("without reactions", &run.without), ("with reactions", &run.with)] {
            self.row(name, &format!("{label}: due→deliver p50/p99/max"), latency(&part.latency));
            self.row(name, &format!("{label}: delivered/expected"), format!("{}/{}", part.delivered, part.expected));
        }
        let with = &run.with;
        self.row(name, "reactions acknowledged", with.reactions_acknowledged.to_string());
        self.row(name, "changes delivered/expected", format!("{}/{}", with.changes_delivered, with.changes_expected));
        self.row(name, "changes doubled", with.changes_doubled.to_string());
        let gaps = format!("{} / {}", run.without.gap_fills, with.gap_fills);
        self.row(name, "gaps filled from the database, without / with", gaps);
        self.row(name, "p99 with / without", format!("{:.2}", run.p99_ratio));
    }

    pub fn alarms(&mut self, run: &crate::alarms::AlarmLatency) {
        let name = "alarms";
        self.row(name, "reactions measured", run.samples.to_string());
        self.row(name, "reaction→alarm, same instance", latency(&run.same_instance));
        match &run.cross_instance {
            Some(cross) => self.row(name, "reaction→alarm, across instances", latency(cross)),
            None => self.row(name, "reaction→alarm, across instances", "(needs --database-url)".to_owned()),
        }
    }

    pub fn writes(&mut self, run: &crate::writes::Writes) {
        let name = "writes";
        self.row(name, "rooms × senders", format!("{} × {}", run.rooms, run.senders_per_room));
        self.row(name, "committed messages/s", format!("{:.0}", run.per_sec));
        self.row(name, "send→ack p50/p99/max", latency(&run.ack));
        self.row(name, "server CPU", format!("{:.0}% of one core", run.server_cpu_percent));
        self.row(name, "gaps / doubles in seq", format!("{} / {}", run.gaps, run.doubles));
    }

    pub fn idle(&mut self, run: &crate::scenarios::Idle) {
        let name = if run.shape == "joined" { "idle joined" } else { "idle" };
        self.row(name, "connections", run.connections.to_string());
        self.row(name, "server RSS per connection", format!("{:.1} KiB", run.rss_per_connection_kib));
        if let Some(people_and_rooms) = run.people_and_rooms_per_connection_kib {
            let connections = run.rss_per_connection_kib - people_and_rooms;
            let split = format!("{people_and_rooms:.1} / {connections:.1} KiB");
            self.row(name, "  of which people and rooms / connections", split);
        }
        self.row(name, "connect p50/p99/max", latency(&run.connect));
        self.row(name, "all connected in", format!("{:.1} s", run.total_connect_secs));
    }

    pub fn uploads(&mut self, directory: &crate::scenarios::Uploads, bucket: &crate::scenarios::Uploads) {
        let name = "uploads";
        let size = directory.bytes_each as f64 / 1048576.0;
        self.row(name, "concurrent × size", format!("{} × {size:.1} MiB", directory.uploads));
        for run in [directory, bucket] {
            self.row(name, &format!("uploads/s, {}", run.store), format!("{:.1}", run.uploads_per_sec));
            let (stored, announced) = (run.stored_files, run.announced);
            self.row(name, &format!("stored files / announced, {}", run.store), format!("{stored} / {announced}"));
        }
        let ratio = bucket.uploads_per_sec / directory.uploads_per_sec;
        self.row(name, "bucket / directory", format!("{ratio:.2} (target ≥ 0.8)"));
    }

    pub fn videos(&mut self, run: &crate::gifs::Videos) {
        let name = "videos";
        self.row(name, "GIFs (with a video)", format!("{} ({}) from {}", run.gifs, run.with_video, run.corpus));
        let saved = |ratio: f64| format!("{:.1}% smaller", (1.0 - ratio) * 100.0);
        self.row(
            name,
            "median bytes fetched vs the GIF",
            format!("{} (target ≥ 70%)", saved(run.median_delivered_ratio)),
        );
        self.row(
            name,
            "median, GIFs with a video / all bytes",
            format!("{} / {}", saved(run.median_video_ratio), saved(run.total_ratio)),
        );
        self.row(
            name,
            "SSIM median / lowest / ≥ 0.95",
            format!(
                "{:.3} / {:.3} / {} of {}",
                run.median_ssim, run.lowest_ssim, run.ssim_at_least_0_95, run.with_video
            ),
        );
        self.row(name, "upload → video announced, corpus", latency(&run.time_to_video));
        self.row(
            name,
            &format!("upload → video, {:.1} MiB GIF ×{}", run.two_mib_bytes as f64 / 1048576.0, run.two_mib.samples),
            format!("{} (p95 {:.0} ms, target ≤ 3000)", latency(&run.two_mib), run.two_mib_p95_ms),
        );
    }

    pub fn library(&mut self, run: &crate::gifs::LibrarySearch) {
        let name = "library";
        self.row(name, "entries / searches", format!("{} / {}", run.entries, run.searches));
        self.row(name, "search p50/p99/max", latency(&run.latency));
        self.row(
            name,
            "search p95",
            format!("{:.2} ms (target ≤ 30), {:.0} found on average", run.p95_ms, run.mean_found),
        );
    }

    pub fn pages(&mut self, run: &crate::scenarios::Pages) {
        self.row("pages", "room list (SSR) req/s", format!("{:.0}", run.room_list_per_sec));
        self.row("pages", "chat page, 50 messages, req/s", format!("{:.0}", run.chat_page_per_sec));
    }

    pub fn abuse(&mut self, run: &crate::abuse::Abuse) {
        let name = "abuse";
        self.row(name, "rooms × people (own addresses)", format!("{} × {}", run.rooms, run.people_per_room));
        self.row(name, "people p50/p99/max, quiet", latency(&run.quiet.latency));
        self.row(name, "people p50/p99/max, attacked", latency(&run.attacked.latency));
        self.row(name, "p99 attacked / quiet", format!("{:.2} (target ≤ 2)", run.p99_ratio));
        self.row(
            name,
            "CPU taken by the hypervisor, quiet / attacked",
            format!("{:.1}% / {:.1}%", run.quiet.cpu_steal_percent, run.attacked.cpu_steal_percent),
        );
        let lost = |p: &crate::abuse::Phase| format!("{} / {} / {}", p.refused, p.missing, p.duplicated);
        self.row(name, "people refused / missing / dup, attacked", lost(&run.attacked));
        let a = &run.attacker;
        self.row(
            name,
            "attacker requests",
            format!("{} ({} accepted, {} throttled, {} other)", a.requests, a.accepted, a.throttled, a.other),
        );
    }

    pub fn cluster(&mut self, run: &crate::cluster::Cluster) {
        for (name, fanout) in [("cluster, 1 instance", &run.one_instance), ("cluster, 2 instances", &run.two_instances)]
        {
            self.row(name, "receivers", fanout.receivers.to_string());
            self.row(name, "sends/s", format!("{:.0}", fanout.sends_per_sec));
            self.row(name, "deliveries/s", format!("{:.0}", fanout.deliveries_per_sec));
            self.row(name, "latency p50/p99/max", latency(&fanout.latency));
            for (n, by_server) in fanout.latency_by_server.iter().enumerate() {
                self.row(name, &format!("latency on instance {}", n + 1), latency(by_server));
            }
            self.row(name, "delivered/expected", format!("{}/{}", fanout.delivered, fanout.expected));
        }
        let paced = &run.paced;
        let name = "cluster, paced";
        self.row(name, "messages/s × receivers", format!("{} × {}", paced.per_sec, 2 * paced.receivers_per_instance));
        self.row(name, "send→deliver, same instance", latency(&paced.same_instance));
        self.row(name, "send→deliver, across instances", latency(&paced.cross_instance));
        self.row(name, "delivered/expected", format!("{}/{}", paced.delivered, paced.expected));
    }

    pub fn growth(&mut self, run: &crate::growth::Growth) {
        for (name, what, steps) in
            [("growth: room page", "messages", &run.history), ("growth: room list", "rooms", &run.rooms)]
        {
            for step in steps {
                self.row(
                    name,
                    &format!("{} {what}: page p50/p99, size, RSS", step.size),
                    format!(
                        "{:.2} / {:.2} ms, {:.1} KB, {:.1} MiB",
                        step.page.p50_ms,
                        step.page.p99_ms,
                        step.page_bytes as f64 / 1000.0,
                        step.rss_kib as f64 / 1024.0
                    ),
                );
            }
        }
    }

    pub fn wasm(&mut self, run: &crate::scenarios::Wasm) {
        let kb = |bytes: f64| format!("{:.0} KB", bytes / 1000.0);
        let brotli = run.brotli_bytes.map_or("not built (--precompress)".to_owned(), |bytes| kb(bytes as f64));
        self.row(
            "wasm",
            "bundle (raw / gzip -9 / brotli as served)",
            format!("{} / {} / {brotli}", kb(run.raw_bytes as f64), kb(run.gzip_bytes as f64)),
        );
    }

    pub fn print(&self) {
        let width = |i: usize| self.rows.iter().map(|r| [&r.0, &r.1, &r.2][i].chars().count()).max().unwrap_or(0);
        let (a, b) = (width(0), width(1));
        println!();
        for (scenario, measure, value) in &self.rows {
            println!("{scenario:<a$}  {measure:<b$}  {value}");
        }
    }
}

fn latency(p: &Percentiles) -> String {
    format!("{:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p99_ms, p.max_ms)
}
