/**
 * amoerp widget for the amoCRM deal card.
 *
 * The right panel (location lcard-1): product search with the client's price and the available stock per
 * warehouse, the cart saved and reserved with one PUT, the shortage and its approval, the order's ERP number,
 * documents (invoice, UPD, TORG-12 and their PDFs), payments, shipments and open conflicts.
 * The «Товары» tab (location card_sdk): the card SDK's four promise callbacks served by the same API.
 *
 * Every call goes through amoCRM's $authorizedAjax, which signs it with a fresh X-Auth-Token; a 401 (say, an
 * expired token) is retried once with a new token, then shown as an error in the manager's language.
 *
 * amoCRM extends this object with its own Widget methods (render_template, get_settings, i18n, system, …),
 * so CustomWidget stays a plain constructor function. Code: readable, not minified (amoCRM's moderation rule).
 */
define(['jquery', 'underscore'], function ($, _) {
  'use strict';

  var CODE = 'amoerp';              // prefix of every CSS class of the widget
  var NS = '.' + CODE;              // event namespace, removed in destroy
  var API = '/api/widget/v1';
  var GUIDE_PATH = '/guide/managers/';  // the managers' guide, a public page of the platform
  var TEMPLATES = ['panel', 'products', 'cart', 'order', 'settings'];
  var POLL_MS = 2000;               // while a document is being issued by the ERP
  var POLL_LIMIT = 90;

  var CustomWidget = function () {
    var self = this;
    var templates = {};
    var state = freshState();
    var pollTimer = null;

    function freshState() {
      return {
        leadId: null, products: [], searched: false, cart: [], delivery_address: '', comment: '',
        order: null, reserve: null, shortages: null, canApprove: false, platform: null, busy: false, query: null
      };
    }

    // ---- settings, language, texts --------------------------------------------------------------------------
    function widgetSettings() {
      return self.get_settings() || {};
    }

    function baseUrl(url) {
      return String(url || widgetSettings().public_url || '').trim().replace(/\/+$/, '');
    }

    /** The managers' guide on the platform (a public page), or '' before the platform's address is set. */
    function guideUrl() {
      return baseUrl() ? baseUrl() + GUIDE_PATH : '';
    }

    function language() {
      var amo = window.AMOCRM || window.APP || {};
      return amo.lang_id || document.documentElement.lang || 'ru';
    }

    /** t('panel.save') or t('settings.ping_ok', {account: 1}): a text of i18n/<lang>.json. */
    function t(path, vars) {
      var parts = path.split('.');
      var value = self.i18n(parts[0]);
      for (var i = 1; i < parts.length && value; i++) {
        value = value[parts[i]];
      }
      var text = typeof value === 'string' ? value : path;
      _.each(vars || {}, function (replacement, name) {
        text = text.split('%' + name + '%').join(String(replacement));
      });
      return text;
    }

    function currentLeadId() {
      var amo = window.AMOCRM || window.APP;
      var card = amo && amo.data && amo.data.current_card;
      return card && card.id ? Number(card.id) : null;
    }

    // ---- the platform's API ---------------------------------------------------------------------------------
    /** A problem+json answer (or a network failure) as {status, title, detail, errors, shortages, reason}. */
    function problemOf(xhr) {
      var body = xhr.responseJSON;
      if (!body && xhr.responseText) {
        try { body = JSON.parse(xhr.responseText); } catch (ignored) { body = null; }
      }
      body = body && typeof body === 'object' ? body : {};
      return {
        status: xhr.status || 0, title: body.title || '', detail: body.detail || '', errors: body.errors || {},
        shortages: body.shortages || null, reason: body.reason || ''
      };
    }

    /** The message a manager reads for a failed call: the platform's own (already in their language). */
    function describe(problem) {
      if (!problem.status) {
        return t('errors.network');
      }
      if (problem.status === 401) {
        return t('errors.unauthorized', {detail: problem.detail || problem.title});
      }
      var fields = _.flatten(_.values(problem.errors));
      var text = problem.detail || problem.title;
      if (fields.length && !_.contains(fields, text)) {
        text = (text ? text + ' ' : '') + fields.join(' ');
      }
      return text || t('errors.unexpected', {status: problem.status});
    }

    /**
     * One call of the widget API through amoCRM's signed $authorizedAjax. Resolves with the answer,
     * rejects with a problem (see problemOf). A 401 is retried once: the retry gets a fresh token.
     */
    function call(method, path, body, options) {
      var deferred = $.Deferred();
      var opts = options || {};
      var request = {
        url: baseUrl(opts.base) + API + path,
        type: method,
        method: method,
        dataType: opts.binary ? 'binary' : 'json',
        headers: {'Accept-Language': language()}
      };
      if (opts.binary) {
        request.xhrFields = {responseType: 'blob'};
      }
      if (body !== undefined) {
        if (method === 'GET') {
          request.data = body;
        } else {
          request.data = JSON.stringify(body);
          request.contentType = 'application/json';
        }
      }
      var attempt = function (retries) {
        self.$authorizedAjax(request)
          .done(function (data) { deferred.resolve(data); })
          .fail(function (xhr) {
            if (xhr.status === 401 && retries > 0) {
              attempt(retries - 1);
            } else {
              deferred.reject(problemOf(xhr));
            }
          });
      };
      attempt(1);
      return deferred.promise();
    }

    function ping(base) {
      return call('GET', '/ping', undefined, {base: base});
    }

    function searchProducts(query, leadId, pageSize) {
      var params = {q: query || '', page_size: pageSize || 20};
      if (leadId) {
        params.lead_id = leadId;
      }
      return call('GET', '/products', params);
    }

    function orderPath(leadId) {
      return '/leads/' + leadId + '/order';
    }

    /** The deal's order, or null when it has none yet (404). */
    function loadOrder(leadId) {
      var deferred = $.Deferred();
      call('GET', orderPath(leadId))
        .done(function (order) { deferred.resolve(order); })
        .fail(function (problem) {
          if (problem.status === 404) {
            deferred.resolve(null);
          } else {
            deferred.reject(problem);
          }
        });
      return deferred.promise();
    }

    function cartBody(lines, extra) {
      var body = {
        lines: _.map(lines, function (line) {
          var out = {product: line.product_id, quantity: String(line.quantity)};
          if (line.pack_id) { out.pack = Number(line.pack_id); }
          if (line.warehouse_id) { out.warehouse = Number(line.warehouse_id); }
          if (line.batch_id) { out.batch = Number(line.batch_id); }
          if (line.discount_percent) { out.discount_percent = String(line.discount_percent); }
          return out;
        })
      };
      return _.extend(body, extra || {});
    }

    // ---- templates ------------------------------------------------------------------------------------------
    function loadTemplates() {
      var settings = widgetSettings();
      var pending = _.filter(TEMPLATES, function (name) { return !templates[name]; });
      return $.when.apply($, _.map(pending, function (name) {
        var deferred = $.Deferred();
        self.render({
          href: '/templates/' + name + '.twig',
          base_path: settings.path,
          v: settings.version,
          load: function (template) {
            templates[name] = template;
            deferred.resolve();
          }
        }, {});
        return deferred.promise();
      }));
    }

    function loadStyle() {
      var settings = widgetSettings();
      var href = settings.path + '/style.css?v=' + settings.version;
      if (!$('link[href="' + href + '"]').length) {
        $('head').append('<link type="text/css" rel="stylesheet" href="' + href + '">');
      }
    }

    function panel() {
      return $('.' + CODE + '-panel');
    }

    function texts() {
      return {panel: self.i18n('panel') || {}};
    }

    function show(message, kind) {
      var box = panel().find('.' + CODE + '-message');
      box.removeClass(CODE + '-message_error ' + CODE + '-message_info').text(message || '');
      if (message) {
        box.addClass(CODE + '-message_' + (kind || 'info'));
      }
    }

    function fail(problem) {
      show(describe(problem), 'error');
    }

    function setBusy(busy) {
      state.busy = busy;
      panel().toggleClass(CODE + '-panel_busy', busy);
      panel().find('button').prop('disabled', busy);
    }

    function drawProducts() {
      panel().find('.' + CODE + '-products').html(templates.products.render(_.extend(texts(), {
        products: state.products, searched: state.searched
      })));
    }

    function drawCart() {
      panel().find('.' + CODE + '-cart').html(templates.cart.render(_.extend(texts(), {
        lines: state.cart, reserve: state.reserve, shortages: state.shortages,
        delivery_address: state.delivery_address, comment: state.comment
      })));
    }

    function drawOrder() {
      var order = state.order;
      var approval = order && order.approvals.length ? _.last(order.approvals) : null;
      panel().find('.' + CODE + '-order').html(templates.order.render(_.extend(texts(), {
        order: order,
        approval: approval,
        can_approve: state.canApprove && order && order.status === 'awaiting_approval',
        open_conflicts: order ? _.where(order.conflicts, {status: 'open'}) : [],
        platform: state.platform
      })));
    }

    function drawAll() {
      drawProducts();
      drawCart();
      drawOrder();
    }

    // ---- the cart -------------------------------------------------------------------------------------------
    function productById(id) {
      return _.find(state.products, function (p) { return p.id === Number(id); });
    }

    function lineFromProduct(product) {
      return {
        product_id: product.id, article: product.article, name: product.name, price: product.price,
        currency: product.currency, unit: product.unit.short_name, packs: product.packs,
        warehouses: product.stock.warehouses, tracking: product.tracking,
        quantity: '1', pack_id: null, warehouse_id: null, batch_id: null
      };
    }

    /** The cart as the order holds it (names of packs and warehouses come from products already found). */
    function cartFromOrder(order) {
      return _.map(order.lines, function (line) {
        var known = productById(line.product_id);
        return {
          product_id: line.product_id, article: line.article, name: line.name, price: line.price,
          currency: order.currency, unit: known ? known.unit.short_name : '',
          packs: known ? known.packs : (line.pack_id ? [{id: line.pack_id, unit: {short_name: '#' + line.pack_id},
                                                          factor: ''}] : []),
          warehouses: known ? known.stock.warehouses : [], tracking: known ? known.tracking : 'none',
          quantity: line.quantity, pack_id: line.pack_id, warehouse_id: line.warehouse_id, batch_id: line.batch_id,
          discount_percent: line.discount_percent
        };
      });
    }

    /** The inputs of the cart form back into state.cart (the manager may have typed in several fields). */
    function readCartForm() {
      var root = panel().find('.' + CODE + '-cart');
      root.find('.' + CODE + '-cart__line').each(function () {
        var row = $(this);
        var line = state.cart[Number(row.data('index'))];
        if (!line) { return; }
        line.quantity = String(row.find('.' + CODE + '-cart__quantity').val() || '').replace(',', '.');
        line.pack_id = Number(row.find('.' + CODE + '-cart__unit').val()) || null;
        line.warehouse_id = Number(row.find('.' + CODE + '-cart__warehouse').val()) || null;
        var batch = row.find('.' + CODE + '-cart__batch');
        line.batch_id = batch.length ? (Number(batch.val()) || null) : null;
      });
      state.delivery_address = root.find('.' + CODE + '-cart__address').val() || '';
      state.comment = root.find('.' + CODE + '-cart__comment').val() || '';
    }

    function showOrder(order) {
      state.order = order;
      if (order && !state.cart.length) {
        state.cart = cartFromOrder(order);
        state.delivery_address = order.delivery_address;
        state.comment = order.comment;
      }
      drawAll();
      schedulePoll();
    }

    /** Re-read the order (when the panel opens and after every action). */
    function refresh() {
      if (!state.leadId) { return $.Deferred().resolve().promise(); }
      return loadOrder(state.leadId).done(showOrder).fail(fail);
    }

    function schedulePoll() {
      clearTimeout(pollTimer);
      var waiting = state.order && _.some(state.order.documents, function (d) { return d.status === 'requested'; });
      if (!waiting || state.polls >= POLL_LIMIT) { return; }
      state.polls = (state.polls || 0) + 1;
      pollTimer = setTimeout(function () {
        if (panel().length) { refresh(); }
      }, POLL_MS);
    }

    // ---- actions of the panel -------------------------------------------------------------------------------
    function onSearch(event) {
      event.preventDefault();
      readCartForm();
      var query = panel().find('.' + CODE + '-search__input').val();
      setBusy(true);
      state.query = query;
      searchProducts(query, state.leadId)
        .done(function (page) {
          state.products = page.results;
          state.searched = true;
          show('');
          drawProducts();
          askAgainIfRefreshing(page, query, 1);
        })
        .fail(fail)
        .always(function () { setBusy(false); });
    }

    // Stale stock is answered at once while the platform asks the ERP (refresh_queued): ask again shortly, a few
    // times at most, unless the manager has searched for something else meanwhile.
    function askAgainIfRefreshing(page, query, attempt) {
      if (!page.refresh_queued || attempt > 3) { return; }
      setTimeout(function () {
        if (state.query !== query || !panel().length) { return; }
        searchProducts(query, state.leadId).done(function (fresh) {
          if (state.query !== query) { return; }
          state.products = fresh.results;
          drawProducts();
          askAgainIfRefreshing(fresh, query, attempt + 1);
        });
      }, 2500);
    }

    function onAdd(event) {
      readCartForm();
      var product = productById($(event.currentTarget).data('product'));
      if (product) {
        state.cart.push(lineFromProduct(product));
        state.reserve = null;
        drawCart();
      }
    }

    function onRemove(event) {
      readCartForm();
      state.cart.splice(Number($(event.currentTarget).closest('.' + CODE + '-cart__line').data('index')), 1);
      drawCart();
    }

    function onSave(event) {
      event.preventDefault();
      readCartForm();
      setBusy(true);
      show(t('panel.saving'));
      var body = cartBody(state.cart, {delivery_address: state.delivery_address, comment: state.comment});
      call('PUT', orderPath(state.leadId), body)
        .done(function (result) {
          state.reserve = result.lines;
          state.shortages = null;
          show('');
          showOrder(result.order);
        })
        .fail(function (problem) {
          if (problem.status === 409 && problem.shortages) {
            state.reserve = null;
            state.shortages = problem.shortages;
            show(describe(problem), 'error');
            refresh();
          } else {
            fail(problem);
          }
        })
        .always(function () { setBusy(false); });
    }

    function onApprove(event) {
      event.preventDefault();
      var reason = panel().find('.' + CODE + '-approve__reason').val();
      setBusy(true);
      call('POST', orderPath(state.leadId) + '/approve', {reason: reason})
        .done(function (result) {
          state.reserve = result.lines;
          state.shortages = null;
          show('');
          showOrder(result.order);
        })
        .fail(fail)
        .always(function () { setBusy(false); });
    }

    function onRequestDocument(event) {
      var kind = $(event.currentTarget).data('kind');
      setBusy(true);
      state.polls = 0;
      call('POST', '/leads/' + state.leadId + '/documents', {kind: kind})
        .done(function () { show(''); refresh(); })
        .fail(fail)
        .always(function () { setBusy(false); });
    }

    /** The PDF needs the token too: fetched as a blob, then opened in a new tab. */
    function onOpenPdf(event) {
      var url = String($(event.currentTarget).data('url'));
      var tab = window.open('', '_blank');
      call('GET', url.replace(/^.*\/api\/widget\/v1/, ''), undefined, {binary: true})
        .done(function (blob) {
          var link = URL.createObjectURL(blob);
          if (tab) { tab.location.href = link; } else { window.location.assign(link); }
        })
        .fail(function (problem) {
          if (tab) { tab.close(); }
          fail(problem);
        });
    }

    function bindPanel() {
      var root = '.' + CODE + '-panel ';
      $(document)
        .off(NS)
        .on('submit' + NS, root + '.' + CODE + '-search', onSearch)
        .on('click' + NS, root + '.' + CODE + '-product__add', onAdd)
        .on('click' + NS, root + '.' + CODE + '-cart__remove', onRemove)
        .on('submit' + NS, root + '.' + CODE + '-cart__form', onSave)
        .on('submit' + NS, root + '.' + CODE + '-approve', onApprove)
        .on('click' + NS, root + '.' + CODE + '-document__request', onRequestDocument)
        .on('click' + NS, root + '.' + CODE + '-document__pdf', onOpenPdf)
        .on('click' + NS, root + '.' + CODE + '-refresh', function () { refresh(); });
    }

    function renderPanel() {
      var body;
      if (!baseUrl()) {
        body = '<div class="' + CODE + '-panel"><p class="' + CODE + '-message ' + CODE + '-message_error">' +
          _.escape(t('panel.not_configured')) + '</p></div>';
      } else if (!state.leadId) {
        body = '<div class="' + CODE + '-panel"><p class="' + CODE + '-message ' + CODE + '-message_info">' +
          _.escape(t('panel.new_card')) + '</p></div>';
      } else {
        body = templates.panel.render(texts());
      }
      self.render_template({caption: {class_name: CODE + '-caption'}, body: '', render: body});
      if (!baseUrl() || !state.leadId) { return; }
      drawAll();
      ping().done(function (about) {
        state.canApprove = Boolean(about.can_approve);
        state.platform = about;
        drawOrder();
      }).fail(fail);
      refresh();
    }

    // ---- the «Товары» tab (card SDK) ------------------------------------------------------------------------
    /** A product of the API as the SDK shows it: {id, sku, name, price}. */
    function sdkItem(product) {
      return {id: product.id, sku: product.article, name: product.name, price: Number(product.price || 0)};
    }

    function asPromise(jqPromise) {
      return new Promise(function (resolve, reject) {
        jqPromise.done(resolve).fail(function (problem) {
          window.console.error('[amoerp] ' + describe(problem));
          reject(new Error(describe(problem)));
        });
      });
    }

    /**
     * What linkCard receives is not documented (see the README): it is logged, and read as either the full
     * list of linked items [{id, quantity}] or {link: [...], unlink: [...]}; an item's id may also come as
     * to_entity_id / catalog_element_id, its quantity as metadata.quantity.
     */
    function readLinks(links) {
      function item(raw) {
        var meta = raw.metadata || {};
        return {
          id: Number(raw.id || raw.to_entity_id || raw.catalog_element_id || raw.element_id),
          quantity: String(raw.quantity || meta.quantity || 1)
        };
      }
      if (_.isArray(links)) {
        return {full: _.map(links, item)};
      }
      return {link: _.map((links && links.link) || [], item), unlink: _.map((links && links.unlink) || [], item)};
    }

    function linkedLines(order, links) {
      var current = order ? cartFromOrder(order) : [];
      var parsed = readLinks(links);
      var byId = _.indexBy(current, 'product_id');
      var wanted = parsed.full || _.map(current, function (l) { return {id: l.product_id, quantity: l.quantity}; })
        .filter(function (l) { return !_.findWhere(parsed.unlink, {id: l.id}); })
        .concat(_.reject(parsed.link, function (l) { return byId[l.id]; }));
      _.each(parsed.link || [], function (l) {
        var existing = _.findWhere(wanted, {id: l.id});
        if (existing) { existing.quantity = l.quantity; }
      });
      return _.map(wanted, function (l) {
        var kept = byId[l.id];
        return _.extend({}, kept || {product_id: l.id}, {product_id: l.id, quantity: l.quantity});
      });
    }

    // ---- callbacks amoCRM calls -----------------------------------------------------------------------------
    this.callbacks = {
      render: function () {
        var area = self.system().area;
        if (area !== 'lcard') {
          return true;
        }
        loadStyle();
        state = freshState();
        state.leadId = currentLeadId();
        loadTemplates().done(renderPanel);
        return true;
      },

      init: function () {
        return true;
      },

      bind_actions: function () {
        bindPanel();
        return true;
      },

      /** The settings modal: a hint, and the result of the connection check. */
      settings: function ($modalBody) {
        loadStyle();
        loadTemplates().done(function () {
          $modalBody.find('.' + CODE + '-settings').remove();
          $modalBody.append(templates.settings.render({hint: t('settings.hint'), guide: t('settings.guide'),
            guide_url: guideUrl()}));
        });
        return true;
      },

      /** The advanced settings page: the connection check on demand. */
      advancedSettings: function () {
        var page = $('#work-area-' + (widgetSettings().widget_code || CODE));
        var button = $('<button type="button" class="' + CODE + '-button"></button>').text(t('advanced.check'));
        var result = $('<p class="' + CODE + '-message"></p>');
        var guide = guideUrl() ? $('<p class="' + CODE + '-settings__guide"></p>').append(
          $('<a target="_blank" rel="noopener"></a>').attr('href', guideUrl()).text(t('settings.guide'))) : '';
        page.append($('<div class="' + CODE + '-advanced"></div>').append(button, result, guide));
        button.on('click' + NS, function () {
          ping().done(function (about) {
            result.text(t('settings.ping_ok', {account: about.subdomain || about.account_id, version: about.version}));
          }).fail(function (problem) {
            result.text(t('settings.ping_failed', {error: describe(problem)}));
          });
        });
        return true;
      },

      /**
       * On save: the platform's address is checked with GET /ping. Resolves true when it answers for this
       * account, false (with the reason in the modal) otherwise.
       */
      onSave: function (data) {
        var fields = (data && data.fields) || {};
        var url = baseUrl(fields.public_url);
        var note = $('.' + CODE + '-settings__result');
        if (fields.active === 'N') {
          return true;   // being switched off: nothing to check
        }
        if (!/^https?:\/\/[^/]+/.test(url)) {
          note.text(t('settings.no_url'));
          return false;
        }
        return new Promise(function (resolve) {
          ping(url).done(function (about) {
            note.text(t('settings.ping_ok', {account: about.subdomain || about.account_id, version: about.version}));
            resolve(true);
          }).fail(function (problem) {
            note.text(t('settings.ping_failed', {error: describe(problem)}));
            resolve(false);
          });
        });
      },

      destroy: function () {
        clearTimeout(pollTimer);
        $(document).off(NS);
      },

      contacts: {
        selected: function () { return true; }
      },

      leads: {
        selected: function () { return true; }
      },

      // The card SDK («Товары» tab): each returns a Promise.
      loadPreloadedData: function () {
        return asPromise(searchProducts('', currentLeadId(), 20)).then(function (page) {
          return _.map(page.results, sdkItem);
        });
      },

      loadElements: function (type, id) {
        return asPromise(loadOrder(id)).then(function (order) {
          return _.map(order ? order.lines : [], function (line) {
            return {id: line.product_id, sku: line.article, name: line.name, price: Number(line.price),
                    quantity: Number(line.quantity)};
          });
        });
      },

      searchDataInCard: function (query, type, id) {
        return asPromise(searchProducts(query, id, 20)).then(function (page) {
          return _.map(page.results, sdkItem);
        });
      },

      linkCard: function (links) {
        window.console.info('[amoerp] linkCard links:', JSON.stringify(links));
        var leadId = currentLeadId();
        return asPromise(loadOrder(leadId)).then(function (order) {
          var body = cartBody(linkedLines(order, links));
          return asPromise(call('PUT', orderPath(leadId), body)).then(function () { return true; });
        });
      }
    };

    return this;
  };

  return CustomWidget;
});
