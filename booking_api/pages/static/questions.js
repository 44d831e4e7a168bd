// A service's check-in questions as form fields, and the answers read back for the API.
import { el } from "./dom.js";

export function questionFields(questions) {
  if (!questions.length) return null;
  return el("fieldset", { class: "questions" }, el("legend", {}, "Before the session"),
    questions.map((q, index) => {
      const id = `q-${index}`;
      const label = `${q.prompt}${q.required ? " (required)" : ""}`;
      const field = `input.answers[${index}]`;
      let control;
      if (q.type === "TEXTAREA") control = el("textarea", { id, name: id, "data-field": field });
      else if (q.type === "SELECT") {
        control = el("select", { id, name: id, "data-field": field },
          el("option", { value: "" }, "Choose…"), q.options.map((o) => el("option", { value: o }, o)));
      } else if (q.type === "MULTI_SELECT") {
        return el("fieldset", { class: "field", "data-field": field }, el("legend", {}, label),
          q.options.map((o) => el("label", {}, el("input", { type: "checkbox", name: id, value: o }), ` ${o}`)),
          el("div", { id: `${id}-error`, class: "field-error" }));
      } else if (q.type === "CHECKBOX") {
        return el("div", { class: "field" }, el("label", {},
          el("input", { type: "checkbox", id, name: id, "data-field": field }), ` ${label}`),
          el("div", { id: `${id}-error`, class: "field-error" }));
      } else control = el("input", { id, name: id, "data-field": field });
      return el("div", { class: "field" }, el("label", { for: id }, label), control,
        el("div", { id: `${id}-error`, class: "field-error" }));
    }));
}

export function readAnswers(form, questions) {
  return questions.map((q, index) => {
    const name = `q-${index}`;
    let values;
    if (q.type === "MULTI_SELECT") {
      values = [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
    } else if (q.type === "CHECKBOX") values = [String(form.elements[name].checked)];
    else values = form.elements[name].value.trim() ? [form.elements[name].value] : [];
    return { questionId: q.id, values };
  });
}
