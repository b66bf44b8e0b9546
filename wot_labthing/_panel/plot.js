// A live plot of one numeric property (or each element of a numeric array) over time,
// drawn with the vendored uPlot: bounded history, pause, CSV export.
import uPlot from "./vendor/uPlot.esm.js";
import { h } from "./schema.js";

const COLOURS = ["#0b62a4", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#be123c"];

export class LivePlot {
  constructor(name, { history = 2000 } = {}) {
    this.name = name;
    this.history = history;
    this.times = [];
    this.series = []; // one array per plotted element
    this.paused = false;
    this.dirty = false;
    this.chart = null;
    this.canvas = h("div", { class: "plot-area", role: "img", "aria-label": `plot of ${name} over time` });
    this.pauseButton = h("button", {
      type: "button",
      "aria-pressed": "false",
      text: "Pause",
      onclick: () => this.setPaused(!this.paused),
    });
    this.count = h("span", { class: "hint", text: "0 points" });
    this.element = h(
      "figure",
      { class: "plot", "data-plot": name },
      this.canvas,
      h(
        "figcaption",
        {},
        this.pauseButton,
        h("button", { type: "button", text: "Export CSV", onclick: () => this.exportCsv() }),
        this.count,
      ),
    );
    new ResizeObserver(() => this.resize()).observe(this.canvas);
  }

  /** Add one value (a number or an array of numbers) observed at time t (ms since epoch). */
  add(value, t = Date.now()) {
    const values = Array.isArray(value) ? value : [value];
    if (!values.every((v) => typeof v === "number")) return;
    if (this.series.length !== values.length) this.reset(values.length);
    this.times.push(t / 1000);
    values.forEach((v, i) => this.series[i].push(v));
    if (this.times.length > this.history) {
      const drop = this.times.length - this.history;
      this.times.splice(0, drop);
      for (const s of this.series) s.splice(0, drop);
    }
    this.schedule();
  }

  reset(width) {
    this.times = [];
    this.series = Array.from({ length: width }, () => []);
    this.chart?.destroy();
    this.chart = null;
  }

  setPaused(paused) {
    this.paused = paused;
    this.pauseButton.textContent = paused ? "Resume" : "Pause";
    this.pauseButton.setAttribute("aria-pressed", String(paused));
    if (!paused) this.schedule();
  }

  schedule() {
    if (this.paused || this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => this.draw());
  }

  /** Redraw at most once per frame, however fast values arrive. */
  draw() {
    this.dirty = false;
    if (this.paused || !this.times.length) return;
    this.count.textContent = `${this.times.length} point${this.times.length === 1 ? "" : "s"}`;
    this.element.dataset.points = String(this.times.length);
    this.element.dataset.last = JSON.stringify(this.series.map((s) => s[s.length - 1]));
    if (this.times.length < 2) return; // one point alone would stretch the time axis over years
    const data = [this.times.slice(), ...this.series.map((s) => s.slice())];
    if (!this.chart) {
      const width = this.series.length;
      this.chart = new uPlot(
        {
          width: this.canvas.clientWidth || 300,
          height: this.height(),
          legend: { show: width > 1 },
          scales: { x: { time: true } },
          series: [
            {},
            ...this.series.map((_, i) => ({
              label: width > 1 ? ["x", "y", "z"][i] ?? `[${i}]` : this.name,
              stroke: COLOURS[i % COLOURS.length],
              width: 2,
            })),
          ],
          axes: [{}, { size: 60 }],
        },
        data,
        this.canvas,
      );
    } else {
      this.chart.setData(data);
    }
  }

  height() {
    return window.matchMedia("(min-width: 50rem)").matches ? 220 : 180;
  }

  resize() {
    if (this.chart && this.canvas.clientWidth) {
      this.chart.setSize({ width: this.canvas.clientWidth, height: this.height() });
    }
  }

  csv() {
    const width = this.series.length;
    const names = width > 1 ? this.series.map((_, i) => `${this.name}[${i}]`) : [this.name];
    const rows = [["time", ...names].join(",")];
    this.times.forEach((t, row) => {
      const stamp = new Date(t * 1000).toISOString();
      rows.push([stamp, ...this.series.map((s) => s[row])].join(","));
    });
    return rows.join("\n") + "\n";
  }

  exportCsv() {
    const url = URL.createObjectURL(new Blob([this.csv()], { type: "text/csv" }));
    const link = h("a", { href: url, download: `${this.name}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}
