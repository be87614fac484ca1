/* Results of one question, drawn from its anonymous tally (and, on the teacher's dashboard, from
 * the answers themselves for drawings). Plain HTML and SVG. */
(function () {
  "use strict";
  const { el } = window.UI;
  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    children.forEach((child) => node.append(child));
    return node;
  }

  function bars(question, tally) {
    const counts = tally.counts || [];
    const total = Math.max(1, tally.answered || 0);
    const correct = new Set((question.config && question.config.correct) || []);
    return el(
      "ol",
      { class: "bars", "aria-label": "Answers per choice" },
      (question.config.choices || []).map((choice, index) => {
        const count = counts[index] || 0;
        const share = Math.round((100 * count) / total);
        return el(
          "li",
          { class: correct.has(index) ? "bar correct" : "bar" },
          el("span", { class: "bar-label" }, choice),
          el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${share}%` })),
          el("span", { class: "bar-count" }, `${count}`),
        );
      }),
    );
  }

  function histogram(tally) {
    const histogram = tally.histogram;
    if (!histogram) return el("p", { class: "muted" }, "No numbers yet.");
    const counts = histogram.counts;
    const peak = Math.max(1, ...counts);
    const width = 100 / counts.length;
    const chart = svg("svg", { viewBox: "0 0 100 60", class: "histogram", role: "img", "aria-label": "Histogram of answers" });
    counts.forEach((count, index) => {
      const height = (50 * count) / peak;
      chart.append(svg("rect", { x: index * width + 0.5, y: 52 - height, width: width - 1, height, rx: 0.8 }));
    });
    const fmt = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
    chart.append(svg("text", { x: 0, y: 59, class: "axis" }, document.createTextNode(fmt(histogram.edges[0]))));
    chart.append(
      svg("text", { x: 100, y: 59, class: "axis", "text-anchor": "end" }, document.createTextNode(fmt(histogram.edges[histogram.edges.length - 1]))),
    );
    const s = tally.summary;
    return el(
      "div",
      {},
      chart,
      el("p", { class: "summary" }, `mean ${fmt(s.mean)} · median ${fmt(s.median)} · min ${fmt(s.min)} · max ${fmt(s.max)}`),
    );
  }

  function imageOf(question) {
    return (question.config && question.config.image_url) || question.image_url || "";
  }

  function dots(question, tally) {
    const box = el("div", { class: "dot-board", role: "img", "aria-label": `${(tally.points || []).length} points placed` });
    const image = imageOf(question);
    if (image) box.append(el("img", { src: image, alt: "" }));
    (tally.points || []).forEach(([x, y]) => box.append(el("span", { class: "dot", style: `left:${x * 100}%;top:${y * 100}%` })));
    return box;
  }

  function drawingSvg(answer, extraClass) {
    const drawing = svg("svg", { viewBox: "0 0 1 1", preserveAspectRatio: "none", class: "drawing " + (extraClass || "") });
    for (const stroke of answer.strokes || []) {
      const points = stroke.points.map(([x, y]) => `${x},${y}`).join(" ");
      drawing.append(
        svg("polyline", {
          points,
          fill: "none",
          stroke: stroke.color || "#222",
          "stroke-width": (stroke.width || 3) / 300,
          "stroke-linecap": "round",
          "stroke-linejoin": "round",
        }),
      );
    }
    return drawing;
  }

  /* options.responses: [{answer, student_name, starred}] (teacher only) */
  function render(container, question, tally, options = {}) {
    container.replaceChildren();
    if (!question) return;
    if (question.kind === "slide") {
      container.append(el("div", { class: "slide-body" }, (question.config && question.config.body) || ""));
      return;
    }
    tally = tally || { answered: 0 };
    switch (question.kind) {
      case "multiple_choice":
        container.append(bars(question, tally));
        break;
      case "number":
        container.append(histogram(tally));
        break;
      case "draggable":
        container.append(dots(question, tally));
        break;
      case "text": {
        const texts = options.responses
          ? options.responses.map((r) => ({ text: r.answer.text, who: r.student_name, starred: r.starred }))
          : (tally.texts || []).map((text) => ({ text }));
        container.append(
          texts.length
            ? el("ul", { class: "text-answers" }, texts.map((t) => el("li", { class: t.starred ? "starred" : "" }, el("q", {}, t.text), t.who ? el("span", { class: "who" }, " — " + t.who) : null)))
            : el("p", { class: "muted" }, "No answers yet."),
        );
        break;
      }
      case "drawing": {
        const drawings = options.responses || [];
        if (!drawings.length) {
          container.append(el("p", { class: "muted big-number" }, `${tally.answered || 0} drawing(s)`));
          break;
        }
        container.append(
          el(
            "ul",
            { class: "thumbs" },
            drawings.map((r) => el("li", { class: r.starred ? "starred" : "" }, drawingSvg(r.answer), el("span", { class: "who" }, r.student_name || ""))),
          ),
        );
        break;
      }
    }
  }

  window.Charts = { render, drawingSvg, imageOf };
})();
